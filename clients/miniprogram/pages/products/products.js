import { AVATAR_UPLOAD_URL } from '../../config.js'
import { describe, yuan } from '../../format.js'
import { exclusive } from '../../guard.js'
import { uploadAvatar } from '../../upload.js'

const { client, lang } = getApp()

Page({
  data: {
    loggedIn: false,
    nickname: '',
    avatarUrl: '',
    chosenAvatar: '', // a temporary file from chooseAvatar, not yet uploaded
    savingProfile: false,
    products: [],
    quantities: {},
    buying: false,
    loadError: '',
  },

  onLoad() {
    return this.loadProducts()
  },

  // A tab page stays alive: the session may have been renewed, replaced or dropped meanwhile.
  async onShow() {
    const session = await client.session()
    if (session) {
      this.setData({ loggedIn: true, nickname: session.user.nickname || '', avatarUrl: session.user.avatar_url || '' })
    } else {
      this.setData({ loggedIn: false, nickname: '', avatarUrl: '', chosenAvatar: '' })
    }
  },

  async onPullDownRefresh() {
    await this.loadProducts()
    wx.stopPullDownRefresh()
  },

  async loadProducts() {
    try {
      const products = await client.products()
      this.setData({
        loadError: '',
        products: products.filter((p) => p.active).map((p) => ({ ...p, priceText: yuan(p.price_fen) })),
      })
    } catch (error) {
      this.setData({ loadError: describe(error, lang) })
    }
  },

  onChooseAvatar(event) {
    this.setData({ avatarUrl: event.detail.avatarUrl, chosenAvatar: event.detail.avatarUrl })
  },

  // The nickname is read from the form on submit: picking WeChat's nickname from the keyboard
  // does not fire input events on every WeChat version.
  onSaveProfile: exclusive('profile', async function (event) {
    const nickname = (event.detail.value.nickname || '').trim()
    this.setData({ savingProfile: true })
    try {
      const avatarUrl = await uploadAvatar(wx, AVATAR_UPLOAD_URL, this.data.chosenAvatar)
      const user = await client.login({ nickname: nickname || undefined, avatarUrl })
      this.setData({ loggedIn: true, nickname: user.nickname || '', chosenAvatar: '' })
      wx.showToast({ title: 'Signed in', icon: 'success' })
    } catch (error) {
      wx.showModal({ title: 'Sign-in failed', content: describe(error, lang), showCancel: false })
    } finally {
      this.setData({ savingProfile: false })
    }
  }),

  // Forget the token on this phone; buying again signs in silently with wx.login.
  onSignOut: exclusive('profile', async function () {
    await client.logout()
    this.setData({ loggedIn: false, nickname: '', avatarUrl: '', chosenAvatar: '' })
    wx.showToast({ title: 'Signed out', icon: 'none' })
  }),

  onStep(event) {
    const { id, delta } = event.currentTarget.dataset
    const next = Math.min(99, Math.max(1, (this.data.quantities[id] || 1) + Number(delta)))
    this.setData({ [`quantities.${id}`]: next })
  },

  // Buying needs no profile: the client signs in silently with wx.login when it has no session.
  // One order per tap, however fast the taps: the guard holds until the order page opens.
  onBuy: exclusive('buy', async function (event) {
    const { id } = event.currentTarget.dataset
    this.setData({ buying: true })
    wx.showLoading({ title: 'Creating order', mask: true })
    try {
      const order = await client.createOrder(id, this.data.quantities[id] || 1)
      wx.hideLoading()
      wx.navigateTo({ url: `/pages/order/order?id=${order.id}` })
    } catch (error) {
      wx.hideLoading()
      wx.showModal({ title: 'Could not create the order', content: describe(error, lang), showCancel: false })
    } finally {
      this.setData({ buying: false })
    }
  }),
})

import { AVATAR_UPLOAD_URL } from '../../config.js'
import { describe, yuan } from '../../format.js'

const { client } = getApp()

/** Keep a chosen avatar beyond this phone: upload the temporary file if an upload URL is set. */
function uploadAvatar(tempPath) {
  if (!tempPath || !AVATAR_UPLOAD_URL) return Promise.resolve(undefined)
  return new Promise((resolve, reject) =>
    wx.uploadFile({
      url: AVATAR_UPLOAD_URL,
      filePath: tempPath,
      name: 'avatar',
      success: (res) => resolve(JSON.parse(res.data).url),
      fail: reject,
    }),
  )
}

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

  async onLoad() {
    const session = await client.session()
    if (session) {
      this.setData({ loggedIn: true, nickname: session.user.nickname, avatarUrl: session.user.avatar_url })
    }
    await this.loadProducts()
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
      this.setData({ loadError: describe(error) })
    }
  },

  onChooseAvatar(event) {
    this.setData({ avatarUrl: event.detail.avatarUrl, chosenAvatar: event.detail.avatarUrl })
  },

  // The nickname is read from the form on submit: picking WeChat's nickname from the keyboard
  // does not fire input events on every WeChat version.
  async onSaveProfile(event) {
    const nickname = (event.detail.value.nickname || '').trim()
    this.setData({ savingProfile: true })
    try {
      const avatarUrl = await uploadAvatar(this.data.chosenAvatar)
      const user = await client.login({ nickname: nickname || undefined, avatarUrl })
      this.setData({ loggedIn: true, nickname: user.nickname, chosenAvatar: '' })
      wx.showToast({ title: 'Signed in', icon: 'success' })
    } catch (error) {
      wx.showModal({ title: 'Sign-in failed', content: describe(error), showCancel: false })
    } finally {
      this.setData({ savingProfile: false })
    }
  },

  onStep(event) {
    const { id, delta } = event.currentTarget.dataset
    const next = Math.min(99, Math.max(1, (this.data.quantities[id] || 1) + Number(delta)))
    this.setData({ [`quantities.${id}`]: next })
  },

  // Buying needs no profile: the client signs in silently with wx.login when it has no session.
  async onBuy(event) {
    const { id } = event.currentTarget.dataset
    this.setData({ buying: true })
    wx.showLoading({ title: 'Creating order' })
    try {
      const order = await client.createOrder(id, this.data.quantities[id] || 1)
      wx.hideLoading()
      wx.navigateTo({ url: `/pages/order/order?id=${order.id}` })
    } catch (error) {
      wx.hideLoading()
      wx.showModal({ title: 'Could not create the order', content: describe(error), showCancel: false })
    } finally {
      this.setData({ buying: false })
    }
  },
})

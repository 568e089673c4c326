import { describe, orderView } from '../../format.js'

const { client } = getApp()

Page({
  data: { order: null, paying: false },

  async onLoad({ id }) {
    this.id = Number(id)
    try {
      this.setData({ order: orderView(await client.order(this.id)) })
    } catch (error) {
      wx.showModal({ title: 'Could not load the order', content: describe(error), showCancel: false })
    }
  },

  // client.pay asks silverpay for the parameters, opens WeChat's payment sheet, then asks silverpay
  // (which asks WeChat) what really happened: the sheet's own answer only decides the wording.
  async onPay() {
    this.setData({ paying: true })
    try {
      const { payment } = await client.pay(this.id)
      wx.redirectTo({ url: `/pages/result/result?id=${this.id}&sheet=${payment.outcome}` })
    } catch (error) {
      if (error.payment) {
        // Paid or not, the answer from silverpay was lost: the result page asks again.
        wx.redirectTo({ url: `/pages/result/result?id=${this.id}&sheet=${error.payment.outcome}` })
        return
      }
      wx.showModal({ title: 'Payment could not start', content: describe(error), showCancel: false })
    } finally {
      this.setData({ paying: false })
    }
  },

  async onCancel() {
    try {
      const order = await client.cancel(this.id)
      this.setData({ order: orderView(order) })
      wx.showToast({ title: order.status === 'PAID' ? 'Already paid' : 'Order closed', icon: 'none' })
    } catch (error) {
      wx.showModal({ title: 'Not cancelled', content: describe(error), showCancel: false })
    }
  },

  onShowResult() {
    wx.redirectTo({ url: `/pages/result/result?id=${this.id}` })
  },
})

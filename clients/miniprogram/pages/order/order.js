import { describe, orderView } from '../../format.js'
import { exclusive } from '../../guard.js'

const { client, lang } = getApp()

Page({
  data: { order: null, paying: false },

  async onLoad({ id }) {
    this.id = Number(id)
    try {
      this.setData({ order: orderView(await client.order(this.id), lang) })
    } catch (error) {
      wx.showModal({ title: 'Could not load the order', content: describe(error, lang), showCancel: false })
    }
  },

  /**
   * The order is not what this page shows any more (paid in another tab or on another phone,
   * closed, not cancellable yet): the client brought it back as it is now; the result page shows
   * that, with the reason.
   */
  showCurrent(error) {
    if (!error.order) return false
    wx.redirectTo({ url: `/pages/result/result?id=${this.id}&notice=${encodeURIComponent(error.code)}` })
    return true
  },

  // client.pay asks silverpay for the parameters, opens WeChat's payment sheet, then asks silverpay
  // (which asks WeChat) what really happened: the sheet's own answer only decides the wording.
  // The guard keeps a double tap from opening the payment sheet twice.
  onPay: exclusive('order', async function () {
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
      if (this.showCurrent(error)) return
      wx.showModal({ title: 'Payment could not start', content: describe(error, lang), showCancel: false })
    } finally {
      this.setData({ paying: false })
    }
  }),

  // Shows the order as the server answers it: CLOSED, or PAID if WeChat had a payment meanwhile.
  onCancel: exclusive('order', async function () {
    this.setData({ paying: true })
    try {
      const order = await client.cancel(this.id)
      this.setData({ order: orderView(order, lang) })
      wx.showToast({ title: order.status === 'CLOSED' ? 'Order cancelled' : 'Order not cancelled', icon: 'none' })
    } catch (error) {
      if (this.showCurrent(error)) return
      wx.showModal({ title: 'Not cancelled', content: describe(error, lang), showCancel: false })
    } finally {
      this.setData({ paying: false })
    }
  }),

  onShowResult() {
    wx.redirectTo({ url: `/pages/result/result?id=${this.id}` })
  },
})

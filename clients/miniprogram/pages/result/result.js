import { describe, orderView } from '../../format.js'
import { exclusive } from '../../guard.js'
import { shopperMessage } from '../../silverpay.js'

const { client, lang } = getApp()

// The headline follows the server's status; the sheet's outcome only explains an unpaid order.
function wording(status, sheet) {
  if (status === 'PAID') return { icon: 'success', headline: 'Payment successful', detail: 'WeChat Pay confirmed the payment.' }
  if (status === 'REFUNDED' || status === 'PARTIALLY_REFUNDED') {
    return { icon: 'info', headline: 'Refunded', detail: 'The payment was returned to your WeChat account.' }
  }
  if (status === 'CLOSED') return { icon: 'clear', headline: 'Order closed', detail: 'This order can no longer be paid.' }
  if (sheet === 'cancel') return { icon: 'cancel', headline: 'Payment cancelled', detail: 'The order is kept: pay it later or cancel it.' }
  if (sheet === 'fail') return { icon: 'warn', headline: 'Payment failed', detail: 'Nothing was charged. You can try again.' }
  return { icon: 'waiting', headline: 'Waiting for WeChat Pay', detail: 'WeChat has not confirmed a payment yet.' }
}

Page({
  data: { order: null, icon: 'waiting', headline: '', detail: '', notice: '', error: '', refreshing: false },

  // notice: an error code from the page before (e.g. ORDER_ALREADY_PAID when another tab paid).
  onLoad({ id, sheet, notice }) {
    this.id = Number(id)
    this.sheet = sheet || ''
    if (notice) this.setData({ notice: shopperMessage({ code: decodeURIComponent(notice) }, lang) })
    return this.refresh()
  },

  refresh: exclusive('refresh', async function () {
    this.setData({ refreshing: true })
    try {
      const order = await client.confirm(this.id)
      this.setData({ order: orderView(order, lang), error: '', ...wording(order.status, this.sheet) })
    } catch (error) {
      this.setData({ error: describe(error, lang) })
    } finally {
      this.setData({ refreshing: false })
    }
  }),

  onRefresh() {
    return this.refresh()
  },

  onPayAgain() {
    wx.redirectTo({ url: `/pages/order/order?id=${this.id}` })
  },

  onMyOrders() {
    wx.switchTab({ url: '/pages/orders/orders' })
  },

  onShop() {
    wx.switchTab({ url: '/pages/products/products' })
  },
})

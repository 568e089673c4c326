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

const SHIPMENT_TEXT = {
  NOT_SHIPPED: 'Not shipped yet',
  SHIPPING_SUBMITTED: 'Shipping being recorded',
  SHIPPED: 'Shipped',
  RECEIVED: 'Receipt confirmed',
  SETTLED: 'Complete',
}

Page({
  data: { order: null, icon: 'waiting', headline: '', detail: '', notice: '', error: '', refreshing: false,
    shipment: null, shipmentText: '' },

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
      if (order.status === 'PAID' || order.status === 'PARTIALLY_REFUNDED') this.showShipment(await client.shipment(order))
    } catch (error) {
      this.setData({ error: describe(error, lang) })
    } finally {
      this.setData({ refreshing: false })
    }
  }),

  onRefresh() {
    return this.refresh()
  },

  showShipment(shipment) {
    this.setData({ shipment, shipmentText: SHIPMENT_TEXT[shipment.state] || shipment.state })
  },

  // WeChat's own confirm-receipt page; whatever it answers, the server then asks WeChat (get_order).
  onConfirmReceipt: exclusive('receipt', async function () {
    this.confirming = true
    try {
      const { shipment } = await client.confirmReceipt(this.data.shipment)
      this.showShipment(shipment)
    } catch (error) {
      this.setData({ error: describe(error, lang) })
    }
  }),

  // Back from weappOrderConfirm (App.onShow's referrerInfo names it): re-check with the server.
  async onShow() {
    if (!this.confirming || !this.data.shipment) return
    this.confirming = false
    try {
      this.showShipment(await client.shipment(this.id, { refresh: true }))
    } catch (error) {
      this.setData({ error: describe(error, lang) })
    }
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

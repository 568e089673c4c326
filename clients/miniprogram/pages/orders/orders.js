import { describe, orderView } from '../../format.js'

const { client, lang } = getApp()

Page({
  data: { orders: [], loaded: false, error: '' },

  // A tab page stays alive: reload whenever it is shown, so a payment made meanwhile appears.
  onShow() {
    this.load()
  },

  async onPullDownRefresh() {
    await this.load()
    wx.stopPullDownRefresh()
  },

  async load() {
    try {
      const orders = await client.orders()
      this.setData({ orders: orders.map((order) => orderView(order, lang)), loaded: true, error: '' })
    } catch (error) {
      this.setData({ error: describe(error, lang), loaded: true })
    }
  },

  onOpen(event) {
    const { id, open } = event.currentTarget.dataset
    wx.navigateTo({ url: open ? `/pages/order/order?id=${id}` : `/pages/result/result?id=${id}` })
  },
})

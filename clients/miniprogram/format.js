// Display helpers shared by the pages (WXML cannot call functions).
import { isOpen, shopperMessage, statusText } from './silverpay.js'

/** 1234 fen → "12.34" (amounts are integer fen everywhere in silverpay). */
export function yuan(fen) {
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

export function orderView(order, lang = 'en') {
  return {
    ...order,
    amountText: yuan(order.amount_fen),
    statusText: statusText(order.status, lang),
    open: isOpen(order),
    createdText: order.created_at ? order.created_at.slice(0, 16).replace('T', ' ') : '',
  }
}

/**
 * A message fit for wx.showModal from a SilverpayError (or anything else thrown): short words for
 * the shopper; the technical text (the server's message, WeChat's errMsg) goes to the console.
 */
export function describe(error, lang = 'en') {
  console.warn('[silverpay]', (error && error.code) || 'ERROR', (error && error.message) || String(error))
  return shopperMessage(error, lang)
}

// Display helpers shared by the pages (WXML cannot call functions).

/** 1234 fen → "12.34" (amounts are integer fen everywhere in silverpay). */
export function yuan(fen) {
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

export const STATUS_TEXT = {
  CREATED: 'Not paid',
  PAYING: 'Awaiting payment',
  PAID: 'Paid',
  CLOSED: 'Closed',
}

export function orderView(order) {
  return {
    ...order,
    amountText: yuan(order.amount_fen),
    statusText: STATUS_TEXT[order.status] || order.status,
    open: order.status === 'CREATED' || order.status === 'PAYING',
    createdText: order.created_at ? order.created_at.slice(0, 16).replace('T', ' ') : '',
  }
}

/** A message fit for wx.showModal from a SilverpayError (or anything else thrown). */
export function describe(error) {
  if (error && error.code === 'NETWORK_ERROR') return 'No connection to the shop. Check your network and try again.'
  if (error && error.code === 'CANCEL_TOO_EARLY') {
    return `WeChat can close this order only 5 minutes after payment started (about ${error.retryAfterS} s from now).`
  }
  return (error && error.message) || String(error)
}

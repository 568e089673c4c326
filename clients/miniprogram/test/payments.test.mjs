// Buying through a real service and simulator: what the user does on the payment sheet, and what
// the server ends up believing.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { createClient, isOrderStateConflict, shopperMessage } from '../silverpay.js'
import { simWx } from '../testkit/sim-wx.mjs'
import { simControl, startStack } from '../testkit/stack.mjs'

let stack

before(async () => {
  stack = await startStack()
})

after(async () => {
  if (stack) await stack.stop()
})

async function shopper(user, options = {}) {
  const wx = simWx({ simBase: stack.simBase, user, ...options })
  const client = createClient({ apiBase: stack.apiBase, wx })
  await client.login({ nickname: user })
  const [product] = await client.products()
  return { wx, client, product }
}

async function waitFor(check, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${stack.logs()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('happy path: login, products, order, pay, PAID, notification acknowledged', async () => {
  const { wx, client, product } = await shopper('happy')
  assert.equal((await client.session()).user.nickname, 'happy')
  assert.equal(wx.log[0].kind, 'login', 'wx.login came before any API call')
  assert.ok(product.id > 0 && product.price_fen > 0 && product.active)

  const order = await client.createOrder(product.id, 2)
  assert.equal(order.status, 'CREATED')
  assert.equal(order.amount_fen, product.price_fen * 2, 'the server prices the order')
  const [created] = wx.requests(/^\/api\/v1\/orders$/)
  assert.ok(created.header['Idempotency-Key'], 'order creation carries an Idempotency-Key')

  const result = await client.pay(order)
  assert.equal(result.status, 'PAID')
  assert.equal(result.order.id, order.id)
  assert.deepEqual(result.payment, { outcome: 'ok', errMsg: 'requestPayment:ok' })
  assert.deepEqual(
    wx.log.slice(-3).map((e) => e.path ?? e.kind),
    [`/api/v1/orders/${order.id}/pay`, 'requestPayment', `/api/v1/orders/${order.id}/confirm`],
  )

  const mine = await client.orders()
  assert.equal(mine.find((o) => o.id === order.id).status, 'PAID')
  assert.equal((await client.order(order.id)).paid_at !== null, true)
  const attempts = await waitFor(async () => {
    const log = await simControl(stack, 'GET', `/sim/v1/notifications?out_trade_no=${order.out_trade_no}`)
    return log.some((a) => a.acknowledged) && log
  }, 'an acknowledged payment notification')
  assert.equal(attempts.filter((a) => a.acknowledged).length, 1)
})

test('cancel on the payment sheet: still asks the server, order stays payable', async () => {
  const { wx, client, product } = await shopper('canceller', { outcome: 'cancel' })
  const order = await client.createOrder(product.id, 1)

  const result = await client.pay(order)
  assert.equal(result.status, 'PAYING')
  assert.deepEqual(result.payment, { outcome: 'cancel', errMsg: 'requestPayment:fail cancel' })
  assert.equal(wx.requests(/\/confirm$/).length, 1, 'confirm is called after a cancel too')

  wx.outcome = 'success' // the user changes their mind
  assert.equal((await client.pay(order)).status, 'PAID')
  await assert.rejects(client.pay(order), (error) => {
    assert.equal(error.code, 'ORDER_ALREADY_PAID')
    assert.equal(error.status, 409)
    assert.equal(error.order.status, 'PAID', 'the order comes back as the server has it now')
    assert.equal(shopperMessage(error), 'This order has already been paid.')
    return true
  })
})

test('cancelling right after the payment sheet: the order as the server has it, no countdown', async () => {
  const { client, product } = await shopper('quick-canceller', { outcome: 'cancel' })
  const order = await client.createOrder(product.id, 1)
  assert.equal((await client.pay(order)).status, 'PAYING')
  // A service that records the cancellation at once answers CLOSED; one that still waits for
  // WeChat's 5 minutes answers CANCEL_TOO_EARLY, with the order attached and a neutral message.
  let after
  try {
    after = await client.cancel(order)
  } catch (error) {
    assert.equal(error.code, 'CANCEL_TOO_EARLY')
    assert.equal(error.status, 409)
    assert.equal('retryAfterS' in error, false)
    assert.equal(shopperMessage(error), 'This order can be cancelled in a few minutes.')
    assert.doesNotMatch(shopperMessage(error, 'zh'), /\d/)
    assert.equal(error.order.id, order.id)
    after = error.order
  }
  assert.equal(after.status, (await client.order(order)).status, 'what the client shows is what the server has')
  assert.ok(['CLOSED', 'PAYING'].includes(after.status), after.status)
})

test('an order paid in another tab: pay() and cancel() bring back the paid order', async () => {
  const { client, product } = await shopper('two-tabs')
  const other = createClient({ apiBase: stack.apiBase, wx: simWx({ simBase: stack.simBase, user: 'two-tabs' }) })
  const order = await client.createOrder(product.id, 1)
  assert.equal((await other.pay(order)).status, 'PAID') // the other tab
  for (const call of [() => client.pay(order), () => client.cancel(order)]) {
    await assert.rejects(call(), (error) => {
      assert.equal(error.code, 'ORDER_ALREADY_PAID')
      assert.ok(isOrderStateConflict(error))
      assert.equal(error.order.status, 'PAID')
      assert.equal(shopperMessage(error, 'zh_CN'), '该订单已支付。')
      return true
    })
  }
})

test('cancelling an order before paying closes it', async () => {
  const { client, product } = await shopper('undecided')
  const order = await client.createOrder(product.id, 3)
  const closed = await client.cancel(order)
  assert.equal(closed.status, 'CLOSED')
  assert.ok(closed.closed_at)
  await assert.rejects(client.pay(order), (error) => {
    assert.equal(error.code, 'ORDER_CLOSED')
    assert.equal(error.order.status, 'CLOSED')
    assert.match(error.message, /closed/, 'the technical text stays on the error for the log')
    assert.equal(shopperMessage(error), 'This order is closed and can no longer be paid.')
    return true
  })
})

test('a failed payment leaves the order unpaid, and a retry can pay it', async () => {
  const { wx, client, product } = await shopper('unlucky', { outcome: 'fail' })
  const order = await client.createOrder(product.id, 1)

  const result = await client.pay(order)
  assert.equal(result.status, 'PAYING')
  assert.equal(result.payment.outcome, 'fail')
  assert.match(result.payment.errMsg, /^requestPayment:fail /)
  const trade = await simControl(stack, 'GET', `/sim/v1/trades/${order.out_trade_no}`)
  assert.equal(trade.trade_state, 'NOTPAY')

  wx.outcome = 'success'
  assert.equal((await client.pay(order)).status, 'PAID')
})

test('a success callback alone is not trusted', async () => {
  const { wx, client, product } = await shopper('forger')
  // A tampered or buggy client: the sheet "succeeds" without WeChat ever seeing a payment.
  wx.requestPayment = async () => ({ errMsg: 'requestPayment:ok' })
  const order = await client.createOrder(product.id, 1)
  const result = await client.pay(order)
  assert.equal(result.payment.outcome, 'ok')
  assert.equal(result.status, 'PAYING', 'the server asked WeChat and found no payment')
})

test('payment with its notification dropped still ends PAID through confirm', async () => {
  const { client, product } = await shopper('no-notify')
  await simControl(stack, 'PUT', '/sim/v1/faults', { notify_drop_rate: 1.0 })
  try {
    const order = await client.createOrder(product.id, 1)
    const result = await client.pay(order)
    assert.equal(result.status, 'PAID')
    const log = await simControl(stack, 'GET', `/sim/v1/notifications?out_trade_no=${order.out_trade_no}`)
    assert.ok(log.length > 0, 'the simulator recorded the drop')
    for (const attempt of log) {
      assert.equal(attempt.acknowledged, false)
      assert.equal(attempt.attempt, 0)
      assert.match(attempt.error, /dropped/)
    }
    assert.equal((await client.order(order)).status, 'PAID')
  } finally {
    await simControl(stack, 'DELETE', '/sim/v1/faults')
  }
})

test('virtual goods ship themselves; confirm receipt, then the server re-checks: settled', async () => {
  const { wx, client } = await shopper('receipt')
  const membership = (await client.products()).find((p) => p.auto_ship_virtual)
  assert.ok(membership, 'the demo catalogue has a virtual product shipped on payment')
  const { status, order } = await client.pay(await client.createOrder(membership.id))
  assert.equal(status, 'PAID')
  const shipped = await waitFor(async () => {
    const shipment = await client.shipment(order)
    return shipment.state === 'SHIPPED' && shipment
  }, 'the automatic shipment')
  assert.equal(shipped.can_confirm_receipt, true)
  assert.ok(shipped.transaction_id)

  const receipt = await client.confirmReceipt(shipped)
  assert.equal(receipt.outcome, 'ok')
  assert.equal(receipt.shipment.state, 'SETTLED', 'the server asked WeChat after the page closed')
  assert.deepEqual(
    wx.log.slice(-2).map((e) => e.path ?? e.kind),
    ['openBusinessView', `/api/v1/orders/${order.id}/shipment/refresh`],
  )
})

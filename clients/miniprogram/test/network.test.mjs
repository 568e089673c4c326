// Requests that never arrive, or whose answers are lost: the client retries what is safe to retry
// and reports the rest as NETWORK_ERROR without losing track of the order.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { createClient } from '../silverpay.js'
import { simWx } from '../testkit/sim-wx.mjs'
import { freePort, startStack } from '../testkit/stack.mjs'

let stack

before(async () => {
  stack = await startStack()
})

after(async () => {
  if (stack) await stack.stop()
})

async function shopper(user) {
  const wx = simWx({ simBase: stack.simBase, user })
  const client = createClient({ apiBase: stack.apiBase, wx, retryDelayMs: 10 })
  await client.login()
  const [product] = await client.products()
  return { wx, client, product }
}

/** Interfere with the first `times` requests whose path matches. */
function breakFirst(wx, pattern, how, times = 1) {
  let left = times
  wx.interfere = (entry) => (pattern.test(entry.path) && left-- > 0 ? how : null)
}

test('an unreachable service gives NETWORK_ERROR after the configured retries', async () => {
  const wx = simWx({ simBase: stack.simBase, user: 'offline' })
  const nowhere = `http://127.0.0.1:${await freePort()}`
  for (const retries of [0, 2]) {
    const before = wx.requests(/products/).length
    const client = createClient({ apiBase: nowhere, wx, retries, retryDelayMs: 10 })
    await assert.rejects(client.products(), (error) => {
      assert.equal(error.code, 'NETWORK_ERROR')
      assert.equal(error.status, undefined)
      assert.match(error.errMsg, /^request:fail /)
      return true
    })
    assert.equal(wx.requests(/products/).length - before, retries + 1)
  }
  const client = createClient({ apiBase: nowhere, wx, retries: 0 })
  await assert.rejects(client.login(), { code: 'NETWORK_ERROR' })
  assert.equal(await client.session(), null, 'no session without an answer')
})

test('a lost answer to order creation is retried with the same key: one order', async () => {
  const { wx, client, product } = await shopper('lost-answer')
  breakFirst(wx, /^\/api\/v1\/orders$/, 'unanswered')
  const order = await client.createOrder(product.id, 2)
  const [first, second] = wx.requests(/^\/api\/v1\/orders$/)
  assert.equal(first.failed, 'unanswered')
  assert.equal(first.statusCode, 201, 'the first request did create the order')
  assert.equal(second.header['Idempotency-Key'], first.header['Idempotency-Key'])
  assert.equal(second.responseHeader['idempotent-replayed'], 'true')
  assert.equal(order.id, first.body.id)
  assert.deepEqual((await client.orders()).map((o) => o.id), [order.id])
})

test('a request to /pay that never left is sent again', async () => {
  const { wx, client, product } = await shopper('unsent-pay')
  breakFirst(wx, /\/pay$/, 'unsent')
  const order = await client.createOrder(product.id, 1)
  const result = await client.pay(order)
  assert.equal(result.status, 'PAID')
  assert.deepEqual(wx.requests(/\/pay$/).map((e) => e.failed ?? e.statusCode), ['unsent', 200])
})

test('when /confirm gets no answer, pay() says so and confirm() settles later', async () => {
  const { wx, client, product } = await shopper('lost-confirm')
  breakFirst(wx, /\/confirm$/, 'unsent', 2)
  const order = await client.createOrder(product.id, 1)
  await assert.rejects(client.pay(order), (error) => {
    assert.equal(error.code, 'NETWORK_ERROR')
    assert.equal(error.orderId, order.id)
    assert.deepEqual(error.payment, { outcome: 'ok', errMsg: 'requestPayment:ok' })
    return true
  })
  const confirmed = await client.confirm(order)
  assert.equal(confirmed.status, 'PAID')
})

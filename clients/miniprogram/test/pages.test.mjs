// The sample mini-program's pages, run in Node against a real service and simulator: the page
// handlers with a recorded wx (testkit/mini-program.mjs), silverpay.js with the simulator adapter.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { exclusive, isRunning } from '../guard.js'
import { createClient } from '../silverpay.js'
import { openPage, queryOf } from '../testkit/mini-program.mjs'
import { simWx } from '../testkit/sim-wx.mjs'
import { startStack } from '../testkit/stack.mjs'
import { uploadAvatar } from '../upload.js'

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
let stack

before(async () => {
  stack = await startStack()
})

after(async () => {
  if (stack) await stack.stop()
})

/** A phone: its storage, its simulated WeChat user, and the app's one client. */
function phone(user, options = {}) {
  const storage = new Map()
  const wx = simWx({ simBase: stack.simBase, user, storage, ...options })
  return { wx, storage, client: createClient({ apiBase: stack.apiBase, wx }) }
}

const tap = (dataset) => ({ currentTarget: { dataset } })

test('a double tap on Buy creates one order', async () => {
  const { wx, client } = phone('double-buy')
  const { page, wx: screen } = await openPage('products', { client })
  await page.onLoad()
  await page.onShow()
  const [product] = page.data.products
  const first = page.onBuy(tap({ id: product.id }))
  const second = page.onBuy(tap({ id: product.id })) // before the first has even sent its request
  assert.equal(second, undefined, 'the second tap is refused synchronously')
  await first
  assert.equal(wx.requests(/^\/api\/v1\/orders$/).filter((r) => r.method === 'POST').length, 1)
  assert.equal((await client.orders()).length, 1)
  assert.equal(screen.called('navigateTo').length, 1)
  assert.equal(page.data.buying, false)

  await page.onBuy(tap({ id: product.id })) // once done, a new tap is a new order
  assert.equal((await client.orders()).length, 2)
})

test('a double tap on Pay opens the payment sheet once', async () => {
  const { wx, client } = phone('double-pay')
  const [product] = await client.products()
  const order = await client.createOrder(product.id, 1)
  const { page, wx: screen } = await openPage('order', { client })
  await page.onLoad({ id: String(order.id) })
  assert.equal(page.data.order.statusText, 'Not paid')
  await Promise.all([page.onPay(), page.onPay(), page.onCancel()])
  assert.equal(wx.log.filter((e) => e.kind === 'requestPayment').length, 1)
  assert.equal(wx.requests(/\/cancel$/).length, 0, 'Cancel is refused while paying')
  const [redirect] = screen.called('redirectTo')
  assert.deepEqual(queryOf(redirect.url), { id: String(order.id), sheet: 'ok' })
  assert.equal((await client.order(order)).status, 'PAID')
})

test('a double tap on Cancel sends one cancel and shows what the server answered', async () => {
  const { wx, client } = phone('double-cancel')
  const [product] = await client.products()
  const order = await client.createOrder(product.id, 1)
  const { page, wx: screen } = await openPage('order', { client })
  await page.onLoad({ id: String(order.id) })
  await Promise.all([page.onCancel(), page.onCancel()])
  assert.equal(wx.requests(/\/cancel$/).length, 1)
  assert.equal(page.data.order.status, 'CLOSED')
  assert.equal(page.data.order.open, false)
  assert.deepEqual(screen.called('showToast').map((t) => t.title), ['Order cancelled'])
})

test('Pay on an order paid in another tab opens the result page: Paid, with the reason', async () => {
  const { client } = phone('stale-order')
  const [product] = await client.products()
  const order = await client.createOrder(product.id, 1)
  const { page, wx: screen } = await openPage('order', { client })
  await page.onLoad({ id: String(order.id) })
  assert.equal(page.data.order.open, true)

  const otherTab = phone('stale-order').client // the same WeChat user on another device
  assert.equal((await otherTab.pay(order)).status, 'PAID')

  await page.onPay() // the page still offers Pay
  assert.equal(screen.called('showModal').length, 0, 'no error dialog')
  const [redirect] = screen.called('redirectTo')
  const query = queryOf(redirect.url)
  assert.deepEqual(query, { id: String(order.id), notice: 'ORDER_ALREADY_PAID' })

  for (const [lang, notice, statusText] of [['en', 'This order has already been paid.', 'Paid'], ['zh', '该订单已支付。', '已支付']]) {
    const { page: result } = await openPage('result', { client, lang })
    await result.onLoad(query)
    assert.equal(result.data.notice, notice)
    assert.equal(result.data.order.statusText, statusText)
    assert.equal(result.data.headline, 'Payment successful')
  }
})

test('the Shop tab follows the session when shown, and signs out', async () => {
  const { client, storage } = phone('tab-user')
  const { page, wx: screen } = await openPage('products', { client })
  await page.onLoad()
  await page.onShow()
  assert.equal(page.data.loggedIn, false)

  // Signed in elsewhere in the app (another page, a silent login while buying): shown on return.
  await createClient({ apiBase: stack.apiBase, wx: simWx({ simBase: stack.simBase, user: 'tab-user', storage }) })
    .login({ nickname: 'Ling' })
  await page.onShow()
  assert.equal(page.data.loggedIn, true)
  assert.equal(page.data.nickname, 'Ling')

  await page.onSignOut()
  assert.equal(page.data.loggedIn, false)
  assert.equal(page.data.nickname, '')
  assert.equal(await client.session(), null)
  assert.equal(storage.size, 0, 'the token is gone from storage')
  assert.deepEqual(screen.called('showToast').map((t) => t.title), ['Signed out'])
  await page.onShow()
  assert.equal(page.data.loggedIn, false)
})

test('exclusive(): refused while running, per page and per name, released after a throw', async () => {
  let release
  let runs = 0
  const handler = exclusive('job', async function () {
    runs += 1
    await new Promise((resolve) => (release = resolve))
  })
  const failing = exclusive('job', () => {
    throw new Error('boom')
  })
  const [pageA, pageB] = [{}, {}]
  const running = handler.call(pageA)
  assert.equal(handler.call(pageA), undefined)
  assert.equal(isRunning(pageA, 'job'), true)
  assert.equal(failing.call(pageA), undefined, 'same name, same page: refused')
  assert.throws(() => failing.call(pageB), /boom/)
  assert.equal(isRunning(pageB, 'job'), false, 'a throw releases the guard')
  release()
  await running
  assert.equal(runs, 1)
  assert.equal(isRunning(pageA, 'job'), false)
})

test('uploadAvatar checks the status and the body, and rejects instead of throwing in the callback', async () => {
  const answering = (res) => ({
    uploadFile: (options) => {
      answering.last = options
      queueMicrotask(() => (res.errMsg ? options.fail(res) : options.success(res)))
    },
  })
  const url = 'https://upload.example.com/avatar'
  assert.equal(await uploadAvatar(answering({}), '', 'wxfile://tmp.png'), undefined, 'no upload URL: nothing to do')
  assert.equal(await uploadAvatar(answering({}), url, ''), undefined, 'no avatar chosen')
  const ok = { statusCode: 200, data: '{"url": "https://cdn.example.com/a.png"}' }
  assert.equal(await uploadAvatar(answering(ok), url, 'wxfile://tmp.png'), 'https://cdn.example.com/a.png')
  assert.equal(answering.last.name, 'avatar')
  assert.ok(answering.last.timeout > 0)
  const refusals = [
    [{ statusCode: 502, data: '<html>Bad Gateway</html>' }, /HTTP 502/],
    [{ statusCode: 413, data: '{"url": "https://cdn.example.com/a.png"}' }, /HTTP 413/],
    [{ statusCode: 200, data: '<html>ok</html>' }, /not JSON/],
    [{ statusCode: 200, data: '{"error": "quota"}' }, /no https "url"/],
    [{ statusCode: 200, data: '{"url": "http://cdn.example.com/a.png"}' }, /no https "url"/],
    [{ errMsg: 'uploadFile:fail timeout' }, /uploadFile:fail timeout/],
  ]
  for (const [res, reason] of refusals) {
    await assert.rejects(uploadAvatar(answering(res), url, 'wxfile://tmp.png'), reason)
  }
})

function pngSize(file) {
  const bytes = readFileSync(path.join(SAMPLE, file))
  assert.equal(bytes.subarray(1, 4).toString(), 'PNG', `${file} is a PNG`)
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), bytes: bytes.length }
}

test('app.json: network timeouts, tabBar icons; project.config.json opens without an account', () => {
  const app = JSON.parse(readFileSync(path.join(SAMPLE, 'app.json'), 'utf8'))
  for (const key of ['request', 'uploadFile', 'downloadFile', 'connectSocket']) {
    const ms = app.networkTimeout[key]
    assert.ok(Number.isInteger(ms) && ms > 0 && ms <= 60000, `networkTimeout.${key} = ${ms}`)
  }
  for (const tab of app.tabBar.list) {
    for (const icon of [tab.iconPath, tab.selectedIconPath]) {
      const { width, height, bytes } = pngSize(icon)
      assert.deepEqual([width, height], [81, 81], icon)
      assert.ok(bytes < 40 * 1024, `${icon}: tabBar icons must stay under 40 KB`)
    }
  }
  const project = JSON.parse(readFileSync(path.join(SAMPLE, 'project.config.json'), 'utf8'))
  assert.equal(project.appid, 'touristappid')
  assert.ok(project.packOptions.ignore.some((rule) => rule.value === 'tools'), 'the icon script is not uploaded')
})

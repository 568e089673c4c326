// The module against hand-made adapters: no server, only the contract with `wx` and the API.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  MESSAGES,
  SilverpayError,
  createClient,
  fromWx,
  isOrderStateConflict,
  languageOf,
  newIdempotencyKey,
  shopperMessage,
  statusText,
} from '../silverpay.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SAMPLE = path.resolve(HERE, '..')

function memoryStorage() {
  const items = new Map()
  return { get: (k) => items.get(k) ?? null, set: (k, v) => void items.set(k, v), remove: (k) => void items.delete(k) }
}

/** An adapter whose server is `answer(request)`; records the order in which things happen. */
function fakeWx(answer, { loginDelayMs = 0 } = {}) {
  const events = []
  let codes = 0
  return {
    events,
    storage: memoryStorage(),
    async login() {
      events.push('wx.login called')
      await new Promise((resolve) => setTimeout(resolve, loginDelayMs))
      codes += 1
      events.push(`wx.login answered code-${codes}`)
      return { code: `code-${codes}` }
    },
    async request(request) {
      events.push(`${request.method} ${new URL(request.url).pathname} ${JSON.stringify(request.data ?? null)}`)
      return answer(request)
    },
    async requestPayment() {
      throw new Error('not used here')
    },
  }
}

const loginAnswer = (request) => ({
  statusCode: 200,
  data: { token: `t-${request.data.code}`, expires_at: Date.now() / 1000 + 3600, user: { id: 1, nickname: '' } },
})

test('login waits for wx.login and sends the code it returned', async () => {
  const wx = fakeWx(loginAnswer, { loginDelayMs: 50 })
  const client = createClient({ apiBase: 'http://api.test', wx })
  const user = await client.login({ nickname: 'Ann', avatarUrl: 'https://cdn.test/a.png' })
  assert.deepEqual(wx.events, [
    'wx.login called',
    'wx.login answered code-1',
    'POST /api/v1/auth/wx-login {"code":"code-1","nickname":"Ann","avatar_url":"https://cdn.test/a.png"}',
  ])
  assert.equal(user.id, 1)
  assert.equal((await client.session()).token, 't-code-1')
})

test('a failed wx.login never reaches the API', async () => {
  const wx = fakeWx(loginAnswer)
  wx.login = async () => {
    throw { errMsg: 'login:fail offline' }
  }
  const client = createClient({ apiBase: 'http://api.test', wx })
  await assert.rejects(client.login(), (error) => {
    assert.ok(error instanceof SilverpayError)
    assert.equal(error.code, 'LOGIN_FAILED')
    assert.equal(error.errMsg, 'login:fail offline')
    return true
  })
  assert.deepEqual(wx.events, [])
})

test('a token the server keeps refusing costs exactly one re-login', async () => {
  const wx = fakeWx((request) =>
    request.url.endsWith('/wx-login')
      ? loginAnswer(request)
      : { statusCode: 401, data: { error: { code: 'UNAUTHORIZED', message: 'invalid token' } } },
  )
  const client = createClient({ apiBase: 'http://api.test/', wx })
  await assert.rejects(client.orders(), (error) => {
    assert.equal(error.code, 'UNAUTHORIZED')
    assert.equal(error.status, 401)
    return true
  })
  assert.equal(wx.events.filter((e) => e === 'wx.login called').length, 2)
  assert.equal(wx.events.filter((e) => e.startsWith('GET /api/v1/orders')).length, 2)
})

test('errors without a JSON body still get a code', async () => {
  const wx = fakeWx(() => ({ statusCode: 502, data: '<html>Bad Gateway</html>' }))
  const client = createClient({ apiBase: 'http://api.test', wx })
  await assert.rejects(client.products(), { name: 'SilverpayError', code: 'HTTP_502', status: 502 })
})

test('fromWx adapts the callback-style mini-program API', async () => {
  const calls = []
  const stored = new Map()
  const wx = {
    request: (o) => {
      calls.push(o)
      if (o.url.includes('down')) o.fail({ errMsg: 'request:fail timeout' })
      else o.success({ statusCode: 200, data: [1], header: {} })
    },
    login: (o) => o.success({ code: 'abc', errMsg: 'login:ok' }),
    requestPayment: (o) => o.fail({ errMsg: 'requestPayment:fail cancel' }),
    getStorageSync: (k) => stored.get(k) ?? '',
    setStorageSync: (k, v) => stored.set(k, v),
    removeStorageSync: (k) => stored.delete(k),
  }
  const adapter = fromWx(wx)
  assert.deepEqual((await adapter.request({ url: 'https://api.test/x', method: 'GET', timeout: 1234 })).data, [1])
  assert.equal(calls[0].dataType, 'json')
  assert.equal(calls[0].timeout, 1234)
  await assert.rejects(adapter.request({ url: 'https://down.test/' }), { errMsg: 'request:fail timeout' })
  assert.equal((await adapter.login()).code, 'abc')
  await assert.rejects(adapter.requestPayment({ paySign: 'x' }), { errMsg: 'requestPayment:fail cancel' })
  assert.equal(adapter.storage.get('missing'), null)
  adapter.storage.set('k', { a: 1 })
  assert.deepEqual(adapter.storage.get('k'), { a: 1 })
  adapter.storage.remove('k')
  assert.equal(adapter.storage.get('k'), null)
})

test('createClient refuses an incomplete adapter', () => {
  assert.throws(() => createClient({ apiBase: '', wx: { request() {}, login() {} } }), /requestPayment/)
  assert.throws(() => createClient({ wx: {} }), /apiBase/)
})

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Run `action` with globalThis.crypto replaced (undefined removes it). */
function withCrypto(value, action) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')
  Object.defineProperty(globalThis, 'crypto', { value, configurable: true })
  try {
    return action()
  } finally {
    if (saved) Object.defineProperty(globalThis, 'crypto', saved)
    else delete globalThis.crypto // Node 18 has no global crypto
  }
}

test('idempotency keys: randomUUID, else getRandomValues, else Math.random and the clock', () => {
  assert.notEqual(newIdempotencyKey(), newIdempotencyKey())
  let filled = 0
  const real = globalThis.crypto
  const onlyRandomValues = {
    getRandomValues: (bytes) => {
      filled += 1
      return real.getRandomValues(bytes)
    },
  }
  const keys = [
    ...withCrypto(onlyRandomValues, () => [newIdempotencyKey(), newIdempotencyKey()]),
    ...withCrypto(undefined, () => [newIdempotencyKey(), newIdempotencyKey()]),
  ]
  assert.equal(filled, 2, 'getRandomValues is used when randomUUID is absent')
  for (const key of keys) assert.match(key, UUID)
  assert.equal(new Set(keys).size, keys.length)
  const many = withCrypto(undefined, () => Array.from({ length: 2000 }, newIdempotencyKey))
  assert.equal(new Set(many).size, many.length, 'no repeats without crypto either')
})

test('requests carry a timeout, as wx.request takes it', async () => {
  const seen = []
  const wx = fakeWx((request) => {
    seen.push(request.timeout)
    return { statusCode: 200, data: [] }
  })
  await createClient({ apiBase: 'http://api.test', wx }).products()
  await createClient({ apiBase: 'http://api.test', wx, timeoutMs: 2500 }).products()
  assert.deepEqual(seen, [15000, 2500])
})

test('a storage that throws (full, disabled) costs the saved session, not the sign-in', async () => {
  const wx = fakeWx(loginAnswer)
  const broken = () => {
    throw new Error('setStorageSync:fail exceed storage max size 10Mb')
  }
  wx.storage = { get: broken, set: broken, remove: broken }
  const client = createClient({ apiBase: 'http://api.test', wx })
  assert.equal(await client.session(), null)
  const user = await client.login()
  assert.equal(user.id, 1)
  assert.equal((await client.session()).token, 't-code-1', 'kept in memory')
  await client.logout()
  assert.equal(await client.session(), null)
})

test('fromWx survives throwing *StorageSync calls', () => {
  const full = () => {
    throw new Error('setStorageSync:fail exceed storage max size 10Mb')
  }
  const adapter = fromWx({ getStorageSync: full, setStorageSync: full, removeStorageSync: full })
  assert.equal(adapter.storage.get('k'), null)
  assert.doesNotThrow(() => adapter.storage.set('k', { a: 1 }))
  assert.doesNotThrow(() => adapter.storage.remove('k'))
})

test('shoppers get short messages in English and Chinese; the technical text stays on the error', async () => {
  assert.deepEqual(Object.keys(MESSAGES.zh).sort(), Object.keys(MESSAGES.en).sort())
  const codes = [
    'INVALID_LOGIN_CODE', 'UPSTREAM_UNAVAILABLE', 'UPSTREAM_REJECTED', 'UPSTREAM_MISCONFIGURED', 'ORDER_ALREADY_PAID',
    'ORDER_CLOSED', 'ORDER_EXPIRED', 'PAYMENT_RETRY', 'PRODUCT_NOT_FOUND', 'ORDER_NOT_FOUND', 'UNAUTHORIZED',
    'TOKEN_EXPIRED', 'IDEMPOTENCY_KEY_REUSED', 'INVALID_REQUEST', 'NETWORK_ERROR', 'LOGIN_FAILED',
  ]
  for (const code of codes) {
    assert.ok(MESSAGES.en[code], `an English message for ${code}`)
    assert.match(MESSAGES.zh[code], /[\u4e00-\u9fff]/, `a Chinese message for ${code}`)
  }
  const upstream = [
    [502, 'UPSTREAM_REJECTED', '/pay/unifiedorder: SYSTEMERROR 系统超时'],
    [400, 'INVALID_LOGIN_CODE', 'jscode2session failed with errcode -1'],
    [503, 'UPSTREAM_UNAVAILABLE', 'POST https://api.mch.weixin.qq.com/pay/unifiedorder: ReadTimeout'],
  ]
  for (const [statusCode, code, message] of upstream) {
    const wx = fakeWx(() => ({ statusCode, data: { error: { code, message } } }))
    await assert.rejects(createClient({ apiBase: 'http://api.test', wx }).products(), (error) => {
      assert.equal(error.message, message, 'the precise text, for the log')
      for (const lang of ['en', 'zh']) {
        const words = shopperMessage(error, lang)
        assert.equal(words, MESSAGES[lang][code])
        assert.doesNotMatch(words, /SYSTEMERROR|errcode|unifiedorder|jscode2session|https?:/)
      }
      return true
    })
  }
  assert.equal(shopperMessage({ code: 'HTTP_502' }), MESSAGES.en.GENERIC)
  assert.equal(shopperMessage(new TypeError('x is undefined'), 'zh-CN'), MESSAGES.zh.GENERIC)
  assert.equal(shopperMessage(undefined), MESSAGES.en.GENERIC)
  assert.deepEqual(['zh_CN', 'zh-TW', 'ZH', 'en', 'en-US', 'fr', undefined].map(languageOf), ['zh', 'zh', 'zh', 'en', 'en', 'en', 'en'])
  assert.equal(statusText('PAID', 'zh_CN'), '已支付')
  assert.equal(statusText('REFUNDED'), 'Refunded')
  assert.equal(statusText('SOMETHING_NEW'), 'SOMETHING_NEW')
})

test('which errors mean "the order moved on": reload it', () => {
  const conflict = (code, status = 409) => isOrderStateConflict(new SilverpayError(code, 'x', { status }))
  for (const code of ['ORDER_ALREADY_PAID', 'ORDER_CLOSED', 'ORDER_EXPIRED', 'PAYMENT_RETRY', 'CONFLICT']) {
    assert.ok(conflict(code), code)
  }
  assert.ok(!conflict('IDEMPOTENCY_KEY_REUSED'))
  assert.ok(!conflict('UPSTREAM_UNAVAILABLE', 503))
  assert.ok(!conflict('NETWORK_ERROR', null))
  assert.ok(!isOrderStateConflict(null))
})

function sampleSources(dir = SAMPLE) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name)
    if (['test', 'testkit', 'node_modules'].includes(name)) return []
    if (statSync(full).isDirectory()) return sampleSources(full)
    return /\.(js|wxml|json)$/.test(name) ? [full] : []
  })
}

test('the sample uses chooseAvatar and the nickname input, never the retired profile APIs', () => {
  const files = sampleSources()
  assert.ok(files.some((f) => f.endsWith(path.join('pages', 'products', 'products.wxml'))), 'sample pages exist')
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    assert.doesNotMatch(text, /getUserProfile|getUserInfo/, file)
  }
  const profile = readFileSync(path.join(SAMPLE, 'pages', 'products', 'products.wxml'), 'utf8')
  assert.match(profile, /<button[^>]*open-type="chooseAvatar"[^>]*bind:chooseavatar=/)
  assert.match(profile, /<input[^>]*type="nickname"/)
})

test('the module never reaches for a global wx', async () => {
  const touched = []
  globalThis.wx = new Proxy({}, { get: (_, name) => touched.push(String(name)) && undefined })
  try {
    const wx = fakeWx(loginAnswer)
    const client = createClient({ apiBase: 'http://api.test', wx })
    await client.login()
    await client.session()
    await client.logout()
    assert.equal(await client.session(), null)
  } finally {
    delete globalThis.wx
  }
  assert.deepEqual(touched, [])
})

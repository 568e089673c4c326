// The module against hand-made adapters: no server, only the contract with `wx` and the API.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { SilverpayError, createClient, fromWx, newIdempotencyKey } from '../silverpay.js'

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
  assert.deepEqual((await adapter.request({ url: 'https://api.test/x', method: 'GET' })).data, [1])
  assert.equal(calls[0].dataType, 'json')
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

test('idempotency keys differ, with and without crypto.randomUUID', () => {
  assert.notEqual(newIdempotencyKey(), newIdempotencyKey())
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true })
  try {
    const [a, b] = [newIdempotencyKey(), newIdempotencyKey()]
    assert.notEqual(a, b)
    assert.match(a, /^k[0-9a-z]+-[0-9a-z]{20}$/)
  } finally {
    if (saved) Object.defineProperty(globalThis, 'crypto', saved)
    else delete globalThis.crypto // Node 18 has no global crypto
  }
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

// Tokens: expiry seen by the client, expiry or rejection seen only by the server, and logins
// shared by concurrent calls. The service runs with the shortest token lifetime it allows (60 s).
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, before, test } from 'node:test'

import { createClient } from '../silverpay.js'
import { simWx } from '../testkit/sim-wx.mjs'
import { JWT_SECRET, startStack } from '../testkit/stack.mjs'

const TTL_S = 60
const SESSION_KEY = 'silverpay.session'
let stack

before(async () => {
  stack = await startStack({ tokenTtlS: TTL_S })
})

after(async () => {
  if (stack) await stack.stop()
})

/** A token signed like the server's own (HS256, same secret, issuer and audience). */
function signToken(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iss: 'silverpay', aud: 'miniprogram', ...claims })}`
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`
}

async function loggedIn(user) {
  const storage = new Map()
  const wx = simWx({ simBase: stack.simBase, user, storage })
  const client = createClient({ apiBase: stack.apiBase, wx })
  await client.login()
  return { wx, client, storage, session: await client.session() }
}

test('the server issues tokens with the configured lifetime', async () => {
  const { session } = await loggedIn('ttl')
  const lifetime = session.expiresAt - Date.now() / 1000
  assert.ok(lifetime > TTL_S - 5 && lifetime <= TTL_S + 1, `lifetime ${lifetime}`)
})

test('a token past its expiry is replaced before the call', async () => {
  const { wx, storage } = await loggedIn('expiring')
  let clock = Date.now() / 1000
  const client = createClient({ apiBase: stack.apiBase, wx, now: () => clock })
  assert.deepEqual(await client.orders(), [])
  assert.equal(wx.logins(), 1, 'a fresh token is reused')

  clock += TTL_S + 1
  assert.deepEqual(await client.orders(), [])
  assert.equal(wx.logins(), 2)
  const renewed = await client.session()
  // Within the same second the server may sign the very same token again, so compare the logins.
  const relogin = wx.requests(/wx-login$/).at(-1)
  assert.equal(wx.requests(/wx-login$/).length, 2)
  assert.equal(renewed.token, relogin.body.token)
  assert.ok(renewed.issuedAt === clock, 'the session was renewed on the (moved) client clock')
  assert.equal(JSON.parse(storage.get(SESSION_KEY)).token, renewed.token, 'the new token is stored')
  const [, second] = wx.requests(/^\/api\/v1\/orders$/)
  assert.equal(second.statusCode, 200)
  assert.equal(second.header.Authorization, `Bearer ${renewed.token}`)
  assert.ok(wx.log.indexOf(second) > wx.log.findLastIndex((e) => e.kind === 'login'), 'login came first')
})

test('a stored session with a past expiry (after an app restart) logs in again', async () => {
  const { wx, storage, session } = await loggedIn('restarted')
  storage.set(SESSION_KEY, JSON.stringify({ ...session, expiresAt: Date.now() / 1000 - 1 }))
  const client = createClient({ apiBase: stack.apiBase, wx })
  assert.deepEqual(await client.orders(), [])
  assert.equal(wx.logins(), 2)
  assert.equal(wx.requests(/^\/api\/v1\/orders$/).length, 1, 'no request went out with the old token')
})

test('TOKEN_EXPIRED from the server (a clock that runs late) triggers one re-login and a retry', async () => {
  const { wx, storage, session } = await loggedIn('late-clock')
  const now = Math.floor(Date.now() / 1000)
  const stale = signToken({ sub: String(session.user.id), iat: now - 2 * TTL_S, exp: now - TTL_S })
  storage.set(SESSION_KEY, JSON.stringify({ ...session, token: stale, expiresAt: now + 3600 }))
  const client = createClient({ apiBase: stack.apiBase, wx })

  assert.deepEqual(await client.orders(), [])
  const [refused, retried] = wx.requests(/^\/api\/v1\/orders$/)
  assert.equal(refused.statusCode, 401)
  assert.equal(refused.body.error.code, 'TOKEN_EXPIRED')
  assert.equal(retried.statusCode, 200)
  assert.equal(wx.logins(), 2)
  assert.notEqual((await client.session()).token, stale)
})

test('an invalid token (UNAUTHORIZED) is replaced the same way', async () => {
  const { wx, storage, session } = await loggedIn('bad-token')
  storage.set(SESSION_KEY, JSON.stringify({ ...session, token: 'not-a-token' }))
  const client = createClient({ apiBase: stack.apiBase, wx })
  const [product] = await client.products()
  const order = await client.createOrder(product.id, 1)
  assert.equal(order.status, 'CREATED')
  const [refused, retried] = wx.requests(/^\/api\/v1\/orders$/)
  assert.equal(refused.body.error.code, 'UNAUTHORIZED')
  assert.equal(retried.header['Idempotency-Key'], refused.header['Idempotency-Key'])
  assert.equal(retried.statusCode, 201)
})

test('concurrent calls with an expired session share one login', async () => {
  const { wx, storage, session } = await loggedIn('busy')
  storage.set(SESSION_KEY, JSON.stringify({ ...session, expiresAt: 0 }))
  const client = createClient({ apiBase: stack.apiBase, wx })
  const results = await Promise.all([client.orders(), client.orders(), client.orders()])
  assert.deepEqual(results, [[], [], []])
  assert.equal(wx.logins(), 2, 'one login for the three calls')
})

/**
 * silverpay.js: the mini-program side of silverpay, as one dependency-free ES module.
 *
 * Copy this file into a mini-program (or import it in Node or a browser). It never touches a
 * global `wx`: every platform call goes through the adapter you pass in, so the same code runs
 * against WeChat, against the silverpay simulator, and in tests.
 *
 *   import { createClient, fromWx } from './silverpay.js'
 *   const client = createClient({ apiBase: 'https://pay.example.com', wx: fromWx(wx) })
 *   await client.login({ nickname })          // wx.login first, then the silverpay login API
 *   const order = await client.createOrder(productId, 2)
 *   const { status } = await client.pay(order) // 'PAID' only if WeChat says so
 *
 * The adapter (all functions may return promises):
 *   request({ url, method, header, data }) -> { statusCode, data, header }
 *       resolves for every HTTP status; rejects with { errMsg } only when no response arrived
 *   login() -> { code }
 *   requestPayment(params) -> { errMsg: 'requestPayment:ok' }
 *       rejects with { errMsg: 'requestPayment:fail cancel' | 'requestPayment:fail …' }
 *   storage: { get(key), set(key, value), remove(key) }
 */

export const VERSION = '0.1.0'

const SESSION_KEY = 'silverpay.session'

export class SilverpayError extends Error {
  /**
   * code: the server's error code (ORDER_CLOSED, CANCEL_TOO_EARLY, TOKEN_EXPIRED, …), or
   * NETWORK_ERROR (no response), LOGIN_FAILED (wx.login gave no code), HTTP_<status> (no error body).
   */
  constructor(code, message, extra = {}) {
    super(message)
    this.name = 'SilverpayError'
    this.code = code
    this.status = extra.status
    this.errMsg = extra.errMsg
    this.retryAfterS = extra.retryAfterS
  }
}

/** Wrap the real mini-program `wx` object (callback style) as an adapter. */
export function fromWx(wx) {
  const call = (fn, options) =>
    new Promise((resolve, reject) => fn({ ...options, success: resolve, fail: reject }))
  return {
    request: (options) => call((o) => wx.request(o), { ...options, dataType: 'json' }),
    login: () => call((o) => wx.login(o), {}),
    requestPayment: (params) => call((o) => wx.requestPayment(o), params),
    storage: {
      // getStorageSync answers '' for a missing key.
      get: (key) => wx.getStorageSync(key) || null,
      set: (key, value) => wx.setStorageSync(key, value),
      remove: (key) => wx.removeStorageSync(key),
    },
  }
}

/** A key for Idempotency-Key: crypto.randomUUID where it exists (Node, browsers), else a random string. */
export function newIdempotencyKey() {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  // Mini-programs have no synchronous crypto; uniqueness per user is all the server needs.
  const part = () => Math.random().toString(36).slice(2, 12).padEnd(10, '0')
  return `k${Date.now().toString(36)}-${part()}${part()}`
}

/**
 * apiBase: where silverpay answers ('' for the same origin in a browser).
 * wx: the adapter described above.
 * retries: how often a request that got no response is sent again. Safe for every call made here:
 *   order creation carries an Idempotency-Key, pay reuses the prepay, confirm and cancel ask WeChat.
 * expirySkewS: log in again this long before the token's expiry (at most a quarter of its
 *   lifetime), for phone clocks that disagree with the server's; a 401 also triggers one re-login.
 * now: seconds since the epoch; replaceable for tests.
 */
export function createClient({
  apiBase,
  wx,
  retries = 1,
  retryDelayMs = 300,
  expirySkewS = 60,
  storageKey = SESSION_KEY,
  now = () => Date.now() / 1000,
} = {}) {
  if (typeof apiBase !== 'string') throw new TypeError('createClient: apiBase must be a string')
  for (const name of ['request', 'login', 'requestPayment']) {
    if (!wx || typeof wx[name] !== 'function') throw new TypeError(`createClient: wx.${name} is missing`)
  }
  if (!wx.storage) throw new TypeError('createClient: wx.storage is missing')
  const base = apiBase.replace(/\/+$/, '')
  let session = null // { token, expiresAt (server's epoch s), issuedAt (this clock's), user }
  let loggingIn = null

  async function send(method, path, data, header = {}) {
    const request = { url: base + path, method, header: { ...header }, data }
    if (data !== undefined) request.header['Content-Type'] = 'application/json'
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await wx.request(request)
        return { statusCode: response.statusCode, data: response.data, header: response.header || {} }
      } catch (failure) {
        if (attempt >= retries) {
          const errMsg = errMsgOf(failure)
          throw new SilverpayError('NETWORK_ERROR', `${method} ${path}: ${errMsg}`, { errMsg })
        }
        await sleep(retryDelayMs * (attempt + 1))
      }
    }
  }

  async function loadSession() {
    if (!session) {
      const stored = await wx.storage.get(storageKey)
      session = stored && typeof stored === 'object' && stored.token ? stored : null
    }
    return session
  }

  async function dropSession() {
    session = null
    await wx.storage.remove(storageKey)
  }

  async function doLogin(profile) {
    let answer
    try {
      answer = await wx.login()
    } catch (failure) {
      throw new SilverpayError('LOGIN_FAILED', `wx.login failed: ${errMsgOf(failure)}`, { errMsg: errMsgOf(failure) })
    }
    // The code is single-use and only valid once wx.login has answered: never call the API before.
    if (!answer || !answer.code) throw new SilverpayError('LOGIN_FAILED', 'wx.login gave no code')
    const body = { code: answer.code }
    if (profile && profile.nickname) body.nickname = profile.nickname
    if (profile && profile.avatarUrl) body.avatar_url = profile.avatarUrl
    const data = unwrap(await send('POST', '/api/v1/auth/wx-login', body), 'POST /api/v1/auth/wx-login')
    session = { token: data.token, expiresAt: data.expires_at, issuedAt: now(), user: data.user }
    await wx.storage.set(storageKey, session)
    return session
  }

  /** One login at a time: concurrent callers that find no valid token share it. */
  function login(profile) {
    if (!loggingIn) {
      loggingIn = doLogin(profile).finally(() => {
        loggingIn = null
      })
    }
    return loggingIn
  }

  // A short-lived token (the server allows 60 s) must not look expired from the start.
  function skewFor(current) {
    const lifetime = typeof current.issuedAt === 'number' ? current.expiresAt - current.issuedAt : Infinity
    return Math.min(expirySkewS, lifetime / 4)
  }

  async function validSession() {
    const current = await loadSession()
    if (current && current.expiresAt - skewFor(current) > now()) return current
    if (current) await dropSession()
    return login()
  }

  async function authed(method, path, data, header = {}) {
    let current = await validSession()
    let response = await send(method, path, data, { ...header, Authorization: `Bearer ${current.token}` })
    if (response.statusCode === 401) {
      // Expired early (clock skew), revoked, or signed by a previous server secret: log in once more.
      if (session && session.token === current.token) await dropSession()
      current = await validSession()
      response = await send(method, path, data, { ...header, Authorization: `Bearer ${current.token}` })
    }
    return unwrap(response, `${method} ${path}`)
  }

  async function confirm(order) {
    return authed('POST', `/api/v1/orders/${orderId(order)}/confirm`)
  }

  return {
    /** wx.login, then silverpay's login; profile = { nickname, avatarUrl } from the page's inputs. */
    async login(profile) {
      if (loggingIn) await loggingIn.catch(() => {})
      return (await login(profile)).user
    },

    async logout() {
      await dropSession()
    },

    /** The stored session ({ token, expiresAt, user }) or null; does not log in. */
    async session() {
      return loadSession()
    },

    async products() {
      return unwrap(await send('GET', '/api/v1/products'), 'GET /api/v1/products')
    },

    /** The server prices the order; retried requests reuse the same Idempotency-Key. */
    async createOrder(productId, quantity = 1, { idempotencyKey = newIdempotencyKey() } = {}) {
      return authed(
        'POST',
        '/api/v1/orders',
        { product_id: productId, quantity },
        { 'Idempotency-Key': idempotencyKey },
      )
    },

    async orders() {
      return authed('GET', '/api/v1/orders')
    },

    async order(id) {
      return authed('GET', `/api/v1/orders/${orderId(id)}`)
    },

    /**
     * /pay, then wx.requestPayment, then /confirm whatever the payment sheet said.
     * Resolves { status, order, payment: { outcome: 'ok'|'cancel'|'fail', errMsg } }, where status
     * is the server's (from WeChat's own record): a success callback alone proves nothing, and a
     * 'fail' can still have paid. If /confirm gets no answer the error carries `payment` and
     * `orderId`: call confirm(order) later; the server also settles from WeChat's notification.
     */
    async pay(order) {
      const id = orderId(order)
      const params = await authed('POST', `/api/v1/orders/${id}/pay`)
      let payment
      try {
        const answer = await wx.requestPayment(params)
        payment = { outcome: 'ok', errMsg: (answer && answer.errMsg) || 'requestPayment:ok' }
      } catch (failure) {
        const errMsg = errMsgOf(failure)
        payment = { outcome: /:fail cancel$/.test(errMsg) ? 'cancel' : 'fail', errMsg }
      }
      let confirmed
      try {
        confirmed = await confirm(id)
      } catch (error) {
        error.payment = payment
        error.orderId = id
        throw error
      }
      return { status: confirmed.status, order: confirmed, payment }
    },

    /** Ask the server to settle the order from WeChat's record now; resolves the order. */
    confirm,

    /**
     * Close an unpaid order. WeChat cannot close one in its first 5 minutes after pay was requested:
     * that rejects with code CANCEL_TOO_EARLY and retryAfterS. If WeChat says it was paid meanwhile,
     * this resolves the order as PAID.
     */
    async cancel(order) {
      return authed('POST', `/api/v1/orders/${orderId(order)}/cancel`)
    },
  }
}

function unwrap(response, what) {
  const { statusCode, data } = response
  if (statusCode >= 200 && statusCode < 300) return data
  const error = data && typeof data === 'object' && data.error ? data.error : null
  const code = error && error.code ? error.code : `HTTP_${statusCode}`
  const message = error && error.message ? error.message : `${what} answered HTTP ${statusCode}`
  const wait = /retry in (\d+) s/.exec(message)
  throw new SilverpayError(code, message, { status: statusCode, retryAfterS: wait ? Number(wait[1]) : undefined })
}

function orderId(order) {
  const id = order && typeof order === 'object' ? order.id : order
  if (!Number.isInteger(Number(id)) || Number(id) <= 0) throw new TypeError(`not an order or order id: ${id}`)
  return Number(id)
}

function errMsgOf(failure) {
  if (failure && typeof failure.errMsg === 'string') return failure.errMsg
  if (failure && typeof failure.message === 'string') return failure.message
  return String(failure)
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

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
 *   …catch (error) { show(shopperMessage(error, 'zh')); log(error.code, error.message) }
 *
 * The adapter (all functions may return promises):
 *   request({ url, method, header, data, timeout }) -> { statusCode, data, header }
 *       resolves for every HTTP status; rejects with { errMsg } only when no response arrived
 *       (timeout: milliseconds, as wx.request takes it)
 *   login() -> { code }
 *   requestPayment(params) -> { errMsg: 'requestPayment:ok' }
 *       rejects with { errMsg: 'requestPayment:fail cancel' | 'requestPayment:fail …' }
 *   storage: { get(key), set(key, value), remove(key) }
 *       may throw (a full or disabled storage): the client then keeps its session in memory only
 */

export const VERSION = '0.1.0'

const SESSION_KEY = 'silverpay.session'

export class SilverpayError extends Error {
  /**
   * code: the server's error code (ORDER_CLOSED, ORDER_ALREADY_PAID, TOKEN_EXPIRED, …), or
   * NETWORK_ERROR (no response), LOGIN_FAILED (wx.login gave no code), HTTP_<status> (no error body).
   * message: the technical text (the server's, or the platform's errMsg): for logs, not for shoppers;
   * shopperMessage(error) gives the words to show.
   */
  constructor(code, message, extra = {}) {
    super(message)
    this.name = 'SilverpayError'
    this.code = code
    this.status = extra.status
    this.errMsg = extra.errMsg
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
    openBusinessView: (options) => call((o) => wx.openBusinessView(o), options),
    // The *StorageSync calls throw when storage is full or unavailable: a lost session only costs a
    // silent wx.login later, so reads answer null and writes are dropped rather than break a payment.
    storage: {
      // getStorageSync answers '' for a missing key.
      get: (key) => quietly(() => wx.getStorageSync(key) || null, null),
      set: (key, value) => quietly(() => wx.setStorageSync(key, value)),
      remove: (key) => quietly(() => wx.removeStorageSync(key)),
    },
  }
}

function quietly(action, fallback) {
  try {
    return action()
  } catch {
    return fallback
  }
}

/**
 * A key for Idempotency-Key: crypto.randomUUID where it exists (Node, browsers), else a UUID from
 * crypto.getRandomValues, else (mini-programs have no synchronous crypto) one from Math.random and
 * the clock: the server only needs keys that do not repeat for one user.
 */
export function newIdempotencyKey() {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  const bytes = new Uint8Array(16)
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(bytes)
  } else {
    let clock = Date.now()
    for (let i = 0; i < 16; i += 1) {
      bytes[i] = (Math.random() * 256) ^ (i < 6 ? clock & 0xff : 0)
      if (i < 6) clock = Math.floor(clock / 256)
    }
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40 // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80 // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// ---------------------------------------------------------------- words for shoppers

/**
 * Short messages for shoppers, by error code. The server's message stays precise and technical
 * (`/pay/unifiedorder: SYSTEMERROR …`): log it, show these. Codes not listed get GENERIC.
 */
export const MESSAGES = {
  en: {
    NETWORK_ERROR: 'No connection to the shop. Check your network and try again.',
    LOGIN_FAILED: 'WeChat sign-in did not work. Please try again.',
    INVALID_LOGIN_CODE: 'WeChat sign-in did not work. Please try again.',
    UNAUTHORIZED: 'Please sign in again.',
    TOKEN_EXPIRED: 'Please sign in again.',
    UPSTREAM_UNAVAILABLE: 'WeChat is busy right now. Please try again in a moment.',
    UPSTREAM_REJECTED: 'WeChat Pay could not take this payment. Please try again later.',
    UPSTREAM_MISCONFIGURED: 'Payments are unavailable right now. Please contact the shop.',
    ORDER_ALREADY_PAID: 'This order has already been paid.',
    ORDER_CLOSED: 'This order is closed and can no longer be paid.',
    ORDER_EXPIRED: 'This order has expired. Please place a new one.',
    PAYMENT_RETRY: 'This order changed while paying. Please tap Pay again.',
    PRODUCT_NOT_FOUND: 'This product is no longer on sale.',
    ORDER_NOT_FOUND: 'This order could not be found.',
    IDEMPOTENCY_KEY_REUSED: 'This order is already being placed. Please check My orders.',
    IDEMPOTENCY_KEY_IN_USE: 'This order is already being placed. Please check My orders.',
    INVALID_REQUEST: 'Something in this request is not right. Please check it and try again.',
    GENERIC: 'Something went wrong. Please try again later.',
  },
  zh: {
    NETWORK_ERROR: '网络连接失败，请检查网络后重试。',
    LOGIN_FAILED: '微信登录失败，请重试。',
    INVALID_LOGIN_CODE: '微信登录失败，请重试。',
    UNAUTHORIZED: '请重新登录。',
    TOKEN_EXPIRED: '请重新登录。',
    UPSTREAM_UNAVAILABLE: '微信服务繁忙，请稍后重试。',
    UPSTREAM_REJECTED: '微信支付暂时无法处理这笔付款，请稍后重试。',
    UPSTREAM_MISCONFIGURED: '暂时无法支付，请联系商家。',
    ORDER_ALREADY_PAID: '该订单已支付。',
    ORDER_CLOSED: '该订单已关闭，无法再支付。',
    ORDER_EXPIRED: '该订单已过期，请重新下单。',
    PAYMENT_RETRY: '订单状态已更新，请重新点击支付。',
    PRODUCT_NOT_FOUND: '该商品已下架。',
    ORDER_NOT_FOUND: '未找到该订单。',
    IDEMPOTENCY_KEY_REUSED: '订单正在提交中，请在“我的订单”中查看。',
    IDEMPOTENCY_KEY_IN_USE: '订单正在提交中，请在“我的订单”中查看。',
    INVALID_REQUEST: '请求有误，请检查后重试。',
    GENERIC: '系统繁忙，请稍后重试。',
  },
}

export const STATUS_TEXT = {
  en: {
    CREATED: 'Not paid',
    PAYING: 'Awaiting payment',
    PAID: 'Paid',
    PARTIALLY_REFUNDED: 'Partly refunded',
    REFUNDED: 'Refunded',
    CLOSED: 'Closed',
  },
  zh: { CREATED: '待支付', PAYING: '支付中', PAID: '已支付', PARTIALLY_REFUNDED: '部分退款', REFUNDED: '已退款', CLOSED: '已关闭' },
}

/** 'zh' for any Chinese locale ('zh_CN' from WeChat, 'zh-TW' from a browser), else 'en'. */
export function languageOf(locale) {
  return /^zh\b/i.test(String(locale || '').replace('_', '-')) ? 'zh' : 'en'
}

/** What to tell a shopper about an error from this module (or anything else thrown). */
export function shopperMessage(error, lang = 'en') {
  const words = MESSAGES[languageOf(lang)]
  const code = error && typeof error.code === 'string' ? error.code : ''
  return words[code] || words.GENERIC
}

/** An order status in words ('PAID' → 'Paid' / '已支付'). */
export function statusText(status, lang = 'en') {
  return STATUS_TEXT[languageOf(lang)][status] || String(status)
}

/** Unpaid and not closed: it can still be paid or cancelled. */
export function isOpen(order) {
  return Boolean(order) && (order.status === 'CREATED' || order.status === 'PAYING')
}

/**
 * The server refused because the order is not in the state the page thought (paid elsewhere,
 * closed, expired, moved to a new payment attempt): reload it and show it as it is. Idempotency conflicts
 * are about the request, not the order.
 */
export function isOrderStateConflict(error) {
  if (!error || typeof error.code !== 'string') return false
  if (['ORDER_ALREADY_PAID', 'ORDER_CLOSED', 'ORDER_EXPIRED', 'PAYMENT_RETRY'].includes(error.code)) return true
  return error.status === 409 && !error.code.startsWith('IDEMPOTENCY_KEY_')
}

/**
 * apiBase: where silverpay answers ('' for the same origin in a browser).
 * wx: the adapter described above.
 * retries: how often a request that got no response is sent again. Safe for every call made here:
 *   order creation carries an Idempotency-Key, pay reuses the prepay, confirm and cancel ask WeChat.
 * timeoutMs: how long one request may take before it counts as unanswered (wx.request's `timeout`).
 * expirySkewS: log in again this long before the token's expiry (at most a quarter of its
 *   lifetime), for phone clocks that disagree with the server's; a 401 also triggers one re-login.
 * now: seconds since the epoch; replaceable for tests.
 */
export function createClient({
  apiBase,
  wx,
  retries = 1,
  retryDelayMs = 300,
  timeoutMs = 15000,
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
    const request = { url: base + path, method, header: { ...header }, data, timeout: timeoutMs }
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
      const stored = await settle(() => wx.storage.get(storageKey), null)
      session = stored && typeof stored === 'object' && stored.token ? stored : null
    }
    return session
  }

  async function dropSession() {
    session = null
    await settle(() => wx.storage.remove(storageKey))
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
    await settle(() => wx.storage.set(storageKey, session)) // unsaved, it lasts until the app closes
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

  /**
   * The page that asked was showing an order the server has moved on from (paid in another tab,
   * closed by the shop): attach the order as it is now, so the caller can show that instead.
   */
  async function withCurrentOrder(error, id) {
    if (isOrderStateConflict(error)) {
      try {
        error.order = await authed('GET', `/api/v1/orders/${id}`)
      } catch {
        // the caller still has the error; it can load the order later
      }
    }
    return error
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
     * If /pay refuses because the order is paid or closed already (another tab, another phone),
     * the error carries `order` as the server has it now: show that rather than the stale one.
     */
    async pay(order) {
      const id = orderId(order)
      let params
      try {
        params = await authed('POST', `/api/v1/orders/${id}/pay`)
      } catch (error) {
        throw await withCurrentOrder(error, id)
      }
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
     * The order's shipping: { state, parcels, transaction_id, can_confirm_receipt, … }.
     * `refresh`: the server asks WeChat first (get_order), e.g. when the buyer is back from
     * WeChat's confirm-receipt page (App.onShow).
     */
    async shipment(order, { refresh = false } = {}) {
      const path = `/api/v1/orders/${orderId(order)}/shipment`
      return refresh ? authed('POST', `${path}/refresh`) : authed('GET', path)
    },

    /**
     * "Confirm receipt": WeChat's own page (wx.openBusinessView, businessType 'weappOrderConfirm',
     * extraData { transaction_id }), then the server re-checks with WeChat (get_order) whatever the
     * page answered: its callback proves nothing, like requestPayment's. Resolves
     * { shipment (the server's, after the re-check), outcome: 'ok'|'fail', errMsg }.
     */
    async confirmReceipt(shipment) {
      if (typeof wx.openBusinessView !== 'function') {
        throw new TypeError('confirmReceipt: wx.openBusinessView is missing')
      }
      const id = orderId(shipment && shipment.order_id)
      let page
      try {
        const extraData = { transaction_id: shipment.transaction_id }
        const answer = await wx.openBusinessView({ businessType: 'weappOrderConfirm', extraData })
        page = { outcome: 'ok', errMsg: (answer && answer.errMsg) || 'openBusinessView:ok' }
      } catch (failure) {
        page = { outcome: 'fail', errMsg: errMsgOf(failure) }
      }
      const fresh = await authed('POST', `/api/v1/orders/${id}/shipment/refresh`)
      return { shipment: fresh, ...page }
    },

    /**
     * Cancel an unpaid order; resolves the order with the status the server gives it (CLOSED at
     * once, or PAID if WeChat says it was paid meanwhile). On a conflict with the order's state the
     * error carries `order`, reloaded.
     */
    async cancel(order) {
      const id = orderId(order)
      try {
        return await authed('POST', `/api/v1/orders/${id}/cancel`)
      } catch (error) {
        throw await withCurrentOrder(error, id)
      }
    },
  }
}

function unwrap(response, what) {
  const { statusCode, data } = response
  if (statusCode >= 200 && statusCode < 300) return data
  const error = data && typeof data === 'object' && data.error ? data.error : null
  const code = error && error.code ? error.code : `HTTP_${statusCode}`
  const message = error && error.message ? error.message : `${what} answered HTTP ${statusCode}`
  throw new SilverpayError(code, message, { status: statusCode })
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

async function settle(action, fallback) {
  try {
    return await action()
  } catch {
    return fallback
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

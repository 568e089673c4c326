// A `wx` adapter for Node backed by the silverpay simulator's control API: wx.login is
// POST /sim/v1/login and wx.requestPayment is POST /sim/v1/pay, as a phone would reach WeChat.
import { APPID } from './stack.mjs'

/**
 * user: the simulated WeChat user's name (its openid is derived from it).
 * outcome: what the user does on the payment sheet: 'success' | 'cancel' | 'fail'.
 * Every call is recorded in `log`; set `interfere(request)` to return 'unsent' (the request never
 * leaves) or 'unanswered' (it reaches the server but the answer is lost) to simulate a bad network.
 */
export function simWx({ simBase, user, appid = APPID, outcome = 'success', storage = new Map() }) {
  const wx = {
    user,
    appid,
    openid: null,
    outcome,
    log: [],
    interfere: null,
    storage: {
      // Like wx.setStorageSync, keep a copy rather than the caller's object.
      get: (key) => (storage.has(key) ? JSON.parse(storage.get(key)) : null),
      set: (key, value) => {
        storage.set(key, JSON.stringify(value))
      },
      remove: (key) => {
        storage.delete(key)
      },
    },

    async login() {
      const answer = await post(`${simBase}/sim/v1/login`, { appid, user })
      if (answer.status !== 200) throw { errMsg: `login:fail ${JSON.stringify(answer.body)}` }
      wx.openid = answer.body.openid
      wx.log.push({ kind: 'login', code: answer.body.code, at: wx.log.length })
      return { code: answer.body.code, errMsg: 'login:ok' }
    },

    async request({ url, method = 'GET', header = {}, data, timeout = 20000 }) {
      const entry = { kind: 'request', method, url, path: new URL(url).pathname, header: { ...header }, data }
      wx.log.push(entry)
      const interference = wx.interfere ? wx.interfere(entry) : null
      if (interference === 'unsent') {
        entry.failed = 'unsent'
        throw { errMsg: 'request:fail simulated network error (unsent)' }
      }
      let response
      try {
        response = await fetch(url, {
          method,
          headers: header,
          body: data === undefined ? undefined : JSON.stringify(data),
          signal: AbortSignal.timeout(timeout),
        })
      } catch (error) {
        entry.failed = 'network'
        throw { errMsg: `request:fail ${error.cause?.code || error.message}` }
      }
      const text = await response.text()
      entry.statusCode = response.status
      entry.responseHeader = Object.fromEntries(response.headers)
      entry.body = text ? JSON.parse(text) : null
      if (interference === 'unanswered') {
        entry.failed = 'unanswered'
        throw { errMsg: 'request:fail simulated network error (answer lost)' }
      }
      return { statusCode: response.status, data: entry.body, header: entry.responseHeader }
    },

    async requestPayment(params) {
      const answer = await post(`${simBase}/sim/v1/pay`, { ...params, appid, openid: wx.openid, outcome: wx.outcome })
      wx.log.push({ kind: 'requestPayment', outcome: wx.outcome, status: answer.status, body: answer.body })
      if (answer.status !== 200) throw { errMsg: answer.body.errMsg }
      return { errMsg: answer.body.errMsg }
    },

    // WeChat's confirm-receipt page: the buyer taps "confirm" there (the simulator's control API).
    async openBusinessView({ businessType, extraData }) {
      if (businessType !== 'weappOrderConfirm') throw { errMsg: `openBusinessView:fail ${businessType}` }
      const answer = await post(`${simBase}/sim/v1/confirm-receipt`, { transaction_id: extraData.transaction_id })
      wx.log.push({ kind: 'openBusinessView', status: answer.status })
      if (answer.status !== 200) throw { errMsg: `openBusinessView:fail HTTP ${answer.status}` }
      return { errMsg: 'openBusinessView:ok' }
    },

    requests(pathPattern) {
      return wx.log.filter((e) => e.kind === 'request' && pathPattern.test(e.path))
    },
    logins() {
      return wx.log.filter((e) => e.kind === 'login').length
    },
  }
  return wx
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

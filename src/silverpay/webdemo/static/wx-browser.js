// A `wx` adapter for the browser demo: the same contract silverpay.js documents, backed by fetch
// for wx.request and by the simulator's control API for what WeChat itself would do.
//   wx.login          → POST {simBase}/sim/v1/login   (a one-time code for the simulated user)
//   wx.requestPayment → the page's own payment sheet, then POST {simBase}/sim/v1/pay
//   wx.openBusinessView({ businessType: 'weappOrderConfirm' }) → POST {simBase}/sim/v1/confirm-receipt
//   storage           → localStorage (which throws when full or disabled: reads answer null, writes are dropped)

const WX_USER_KEY = 'silverpay.demo.wxuser'

/**
 * simBase, appid: from /demo/config.json.
 * choose(params): shows the payment sheet; resolves 'success' | 'cancel' | 'fail'.
 * settled(): the simulator has answered the payment (the real sheet closes itself then).
 * onCall({ kind, label, status, ok }): every call, for the page's log.
 */
export function browserWx({ simBase, appid, choose, settled = () => {}, onCall = () => {} }) {
  const storage = {
    get(key) {
      try {
        const raw = localStorage.getItem(key)
        return raw === null ? null : JSON.parse(raw)
      } catch {
        return null
      }
    },
    set(key, value) {
      try {
        localStorage.setItem(key, JSON.stringify(value))
      } catch {
        // the value lives in memory only, until the page reloads
      }
    },
    remove(key) {
      try {
        localStorage.removeItem(key)
      } catch {
        // nothing stored to forget
      }
    },
  }
  // Who is "holding the phone": wx.login needs the name, wx.requestPayment the openid it maps to.
  let wxUser = storage.get(WX_USER_KEY)

  async function simPost(path, body) {
    const response = await fetch(simBase + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
    let data = null
    try {
      data = await response.json()
    } catch {
      // an empty or non-JSON body: reported by status below
    }
    return { status: response.status, data }
  }

  return {
    storage,

    get user() {
      return wxUser
    },

    useSimulatedUser(name) {
      wxUser = { name, openid: null }
      storage.set(WX_USER_KEY, wxUser)
    },

    forgetUser() {
      wxUser = null
      storage.remove(WX_USER_KEY)
    },

    async request({ url, method = 'GET', header = {}, data, timeout }) {
      const label = `${method} ${new URL(url, location.href).pathname}`
      let response
      try {
        response = await fetch(url, {
          method,
          headers: header,
          body: data === undefined ? undefined : JSON.stringify(data),
          signal: timeout ? AbortSignal.timeout(timeout) : undefined, // like wx.request's timeout
        })
      } catch (error) {
        const timedOut = error && error.name === 'TimeoutError'
        onCall({ kind: 'api', label, status: timedOut ? 'timeout' : 'network error', ok: false })
        throw { errMsg: timedOut ? 'request:fail timeout' : `request:fail ${error.message}` }
      }
      const text = await response.text()
      let body = text
      try {
        body = text ? JSON.parse(text) : null
      } catch {
        // not JSON: silverpay.js reports it by status
      }
      onCall({ kind: 'api', label, status: response.status, ok: response.ok })
      return { statusCode: response.status, data: body, header: Object.fromEntries(response.headers) }
    },

    async login() {
      if (!wxUser) throw { errMsg: 'login:fail no simulated WeChat user chosen' }
      const { status, data } = await simPost('/sim/v1/login', { appid, user: wxUser.name })
      onCall({ kind: 'wx', label: 'wx.login', status: status === 200 ? 'code' : status, ok: status === 200 })
      if (status !== 200) throw { errMsg: `login:fail ${JSON.stringify(data)}` }
      wxUser = { ...wxUser, openid: data.openid }
      storage.set(WX_USER_KEY, wxUser)
      return { code: data.code, errMsg: 'login:ok' }
    },

    async openBusinessView({ businessType, extraData = {} }) {
      if (businessType !== 'weappOrderConfirm') throw { errMsg: `openBusinessView:fail unsupported ${businessType}` }
      // WeChat's confirmation page: the buyer taps "confirm receipt" there.
      const { status, data } = await simPost('/sim/v1/confirm-receipt', { transaction_id: extraData.transaction_id })
      const ok = status === 200
      onCall({ kind: 'wx', label: 'wx.openBusinessView weappOrderConfirm', status: ok ? 'confirmed' : status, ok })
      if (!ok) throw { errMsg: `openBusinessView:fail ${(data && data.detail) || `HTTP ${status}`}` }
      return { errMsg: 'openBusinessView:ok' }
    },
    async requestPayment(params) {
      const outcome = await choose(params)
      let answer
      try {
        answer = await simPost('/sim/v1/pay', { ...params, appid, openid: wxUser && wxUser.openid, outcome })
      } finally {
        settled()
      }
      const { status, data } = answer
      const errMsg = (data && data.errMsg) || `requestPayment:fail HTTP ${status}`
      onCall({ kind: 'wx', label: 'wx.requestPayment', status: errMsg.replace(/^requestPayment:/, ''), ok: status === 200 })
      if (status !== 200) throw { errMsg }
      return { errMsg }
    },
  }
}

import { createClient, fromWx, languageOf } from './silverpay.js'
import { API_BASE } from './config.js'

// The phone's WeChat language picks the messages' language ('zh_CN' → Chinese).
function appLanguage() {
  try {
    const info = wx.getAppBaseInfo ? wx.getAppBaseInfo() : wx.getSystemInfoSync()
    return languageOf(info.language)
  } catch {
    return 'en'
  }
}

App({
  // One client for the whole app: it keeps the session in storage and renews it when it expires.
  client: createClient({ apiBase: API_BASE, wx: fromWx(wx) }),
  lang: appLanguage(),
})

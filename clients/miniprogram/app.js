import { createClient, fromWx } from './silverpay.js'
import { API_BASE } from './config.js'

App({
  // One client for the whole app: it keeps the session in storage and renews it when it expires.
  client: createClient({ apiBase: API_BASE, wx: fromWx(wx) }),
})

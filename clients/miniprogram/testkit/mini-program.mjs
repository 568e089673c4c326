// A small stand-in for the mini-program runtime, enough to run the sample's page handlers in Node:
// Page() and getApp() as globals, and the wx.* calls the pages make besides those silverpay.js makes
// through its adapter (showModal, navigateTo, …), recorded rather than drawn. Not a renderer.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
let loads = 0

/** The page-level wx calls; each call is recorded as { api, ...options }. */
export function platform() {
  const calls = []
  const wx = { calls, called: (api) => calls.filter((c) => c.api === api) }
  for (const api of ['showLoading', 'hideLoading', 'showModal', 'showToast', 'navigateTo', 'redirectTo', 'switchTab',
    'stopPullDownRefresh']) {
    wx[api] = (options = {}) => void calls.push({ api, ...options })
  }
  return wx
}

/**
 * Load pages/<name>/<name>.js afresh with `client` (and `lang`) as getApp()'s and `wx` as the
 * global wx; resolves an instance: its data, setData (plain and 'a.b' keys), and its handlers.
 */
export async function openPage(name, { client, lang = 'en', wx = platform() }) {
  let definition = null
  globalThis.Page = (options) => {
    definition = options
  }
  globalThis.getApp = () => ({ client, lang })
  globalThis.wx = wx
  loads += 1 // a new URL per load: a fresh module, so the page reads this getApp()
  await import(`${pathToFileURL(path.join(SAMPLE, 'pages', name, `${name}.js`)).href}?load=${loads}`)
  if (!definition) throw new Error(`pages/${name} did not call Page()`)
  const page = { ...definition, data: structuredClone(definition.data) }
  page.setData = (changes) => {
    for (const [key, value] of Object.entries(changes)) {
      const keys = key.split('.')
      const last = keys.pop()
      let target = page.data
      for (const k of keys) target = target[k] ?? (target[k] = {})
      target[last] = value
    }
  }
  return { page, wx }
}

/** The query of a recorded navigation url ('/pages/result/result?id=3&sheet=ok' → { id: '3', sheet: 'ok' }). */
export function queryOf(url) {
  return Object.fromEntries(new URL(url, 'https://mp.invalid').searchParams)
}

// The browser demo: a phone-sized shop running the mini-program client module (silverpay.js) with
// a browser `wx` adapter, and a side panel showing what the WeChat simulator does meanwhile.
// Each screen has its own address in the URL hash (#/shop, #/order/12, …), so Back, Forward and
// reload work; the data always comes from the server, never from the address.
import { createClient, isOpen, languageOf, shopperMessage, statusText } from './silverpay.js'
import { browserWx } from './wx-browser.js'

const config = await (await fetch(new URL('config.json', import.meta.url))).json()
const PROFILE_KEY = 'silverpay.demo.profile'
// Messages follow the browser's language (zh-* → Chinese); the rest of the page is English.
const LANG = languageOf(navigator.language)
const AVATAR_COLOURS = ['#057a3f', '#2563c9', '#a35200', '#c81e24', '#7c3aed', '#0f766e']
const THUMB_COLOURS = [['#fdf0e1', '#93510a'], ['#e8f3ff', '#1d5fb8'], ['#eefbf3', '#057a3f'], ['#f5edff', '#6d28d9']]

const $ = (id) => document.getElementById(id)

/** Build DOM without innerHTML: product names and messages come from the server. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (key === 'class') el.className = value
    else if (key === 'style') el.style.cssText = value
    else el.setAttribute(key, value === true ? '' : value)
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

const yuan = (fen) => `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`
const statusChip = (status, id) => h('span', { class: `status status-${status}`, id }, statusText(status))

// ---------------------------------------------------------------- the payment sheet (WeChat's UI)

// What is behind the sheet while it is open: out of reach of the keyboard and of screen readers.
const BEHIND_SHEET = ['page-head', 'statusbar', 'navbar', 'screen', 'tabbar', 'panel']

const sheet = {
  info: null,
  opener: null,
  choose: null,
  open(params) {
    $('sheet-amount').textContent = this.info ? yuan(this.info.amount_fen) : ''
    $('sheet-merchant').textContent = this.info ? this.info.description : 'silverpay demo merchant'
    $('sheet-order').textContent = this.info ? this.info.out_trade_no : params.package
    this.opener = document.activeElement
    for (const id of BEHIND_SHEET) $(id).inert = true
    $('sheet').hidden = false
    $('sheet-pay').disabled = false
    $('sheet-pay').textContent = 'Pay'
    $('sheet-dialog').focus()
    return new Promise((resolve) => {
      this.choose = (outcome) => {
        if (!this.choose) return
        this.choose = null
        if (outcome === 'success') {
          $('sheet-pay').disabled = true
          $('sheet-pay').textContent = 'Paying…'
        }
        resolve(outcome)
      }
    })
  },
  close() {
    if ($('sheet').hidden) return
    this.choose = null
    $('sheet').hidden = true
    for (const id of BEHIND_SHEET) $(id).inert = false
    // Back where the shopper was; if that screen is gone meanwhile, show() focuses the new one.
    if (this.opener && this.opener.isConnected) this.opener.focus()
    this.opener = null
  },
}

$('sheet-pay').addEventListener('click', () => sheet.choose && sheet.choose('success'))
$('sheet-cancel').addEventListener('click', () => sheet.choose && sheet.choose('cancel'))
$('sheet-fail').addEventListener('click', () => sheet.choose && sheet.choose('fail'))
document.addEventListener('keydown', (event) => {
  if ($('sheet').hidden) return
  if (event.key === 'Escape' && sheet.choose) {
    event.preventDefault()
    sheet.choose('cancel') // as closing WeChat's sheet does
  } else if (event.key === 'Tab') {
    // Keep Tab inside the sheet: the page behind is inert, and leaving for the browser's UI loses the sheet.
    const stops = [...$('sheet').querySelectorAll('button:not(:disabled)')]
    const at = stops.indexOf(document.activeElement)
    const next = event.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : (at + 1) % stops.length
    event.preventDefault()
    stops[next].focus()
  }
})

// ---------------------------------------------------------------- client, adapter, call log

const calls = []
function logCall(call) {
  calls.unshift({ ...call, at: new Date() })
  calls.length = Math.min(calls.length, 40)
  $('calls').replaceChildren(
    ...calls.map((c) =>
      h(
        'li',
        { class: c.kind === 'error' ? 'error' : '' },
        h('span', { class: 'time' }, c.at.toLocaleTimeString('en-GB')),
        h('span', { class: 'what', title: c.label }, h('code', {}, c.label)),
        h('span', { class: `tag ${c.ok ? (c.kind === 'wx' ? 'info' : 'ok') : 'bad'}` }, String(c.status)),
      ),
    ),
  )
}

/** The shopper reads short words; the technical text (code, server message) goes to the call log. */
function report(error) {
  const code = (error && error.code) || 'ERROR'
  const detail = (error && (error.message || error.errMsg)) || String(error)
  logCall({ kind: 'error', label: `${code}: ${detail}`, status: code, ok: false })
  return shopperMessage(error, LANG)
}

const wx = browserWx({
  simBase: config.simBase,
  appid: config.appid,
  choose: (params) => sheet.open(params),
  settled: () => sheet.close(),
  onCall: logCall,
})
const client = createClient({ apiBase: config.apiBase, wx })

// ---------------------------------------------------------------- state, toast, busy

// fresh: orders just answered by the server, by id, so that the next screen need not ask again.
// payments: what the sheet last said per order id, so that later screens can still explain an unpaid order.
const state = { screen: null, products: [], quantities: {}, notice: '', busy: false, fresh: {}, payments: {}, current: null }

function profile() {
  const stored = wx.storage.get(PROFILE_KEY)
  return stored && typeof stored === 'object' ? stored : { nickname: '', colour: 0 }
}

function avatar(nickname, colour, extra = {}) {
  const initial = (nickname || '?').trim().charAt(0).toUpperCase() || '?'
  return h('span', { class: 'avatar', style: `background:${AVATAR_COLOURS[colour % AVATAR_COLOURS.length]}`,
    'aria-hidden': 'true', ...extra }, initial)
}

let toastTimer = null
function toast(message) {
  $('toast').textContent = message
  $('toast').hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => {
    $('toast').hidden = true
  }, 4000)
}

/**
 * One action at a time: the flag is set before anything awaits, so a double click cannot start a
 * second order or a second payment. Buttons are marked busy, not disabled, so focus stays put.
 */
async function busy(task) {
  if (state.busy) return
  state.busy = true
  $('screen').setAttribute('aria-busy', 'true')
  try {
    await task()
  } catch (error) {
    toast(report(error))
  } finally {
    state.busy = false
    $('screen').removeAttribute('aria-busy')
  }
}

// ---------------------------------------------------------------- addresses (the URL hash)

const TITLES = { login: 'silverpay shop', products: 'Shop', order: 'Confirm order', result: 'Payment result', orders: 'My orders' }

/**
 * Go to an address: a new history entry (Back returns here), or `replace` this one, as a
 * mini-program's redirectTo does (an order page that turned into a result page is not gone back to).
 * `order`: the server's latest answer for the order the address names.
 */
function go(hash, { replace = false, order = null } = {}) {
  if (order) state.fresh[order.id] = order
  if (location.hash === hash) return render()
  if (replace) {
    history.replaceState(null, '', hash)
    return render()
  }
  location.hash = hash // → hashchange → render()
  return undefined
}

window.addEventListener('hashchange', () => {
  if (!$('sheet').hidden && sheet.choose) sheet.choose('cancel') // Back while paying closes the sheet first
  render()
})

let renderTicket = 0

/** Draw the screen the address names; a newer navigation that overtakes this one wins. */
async function render() {
  const ticket = ++renderTicket
  const current = () => ticket === renderTicket
  const [, screen, id] = /^#\/(\w+)(?:\/(\d+))?$/.exec(location.hash) || []
  try {
    const session = await client.session()
    if (!session || !wx.user || screen === 'login') return current() && loginScreen()
    if (screen === 'order' || screen === 'result') {
      const order = state.fresh[id] || (await client.order(Number(id)))
      delete state.fresh[id]
      if (!current()) return undefined
      if (screen === 'order' && !isOpen(order)) return go(`#/result/${order.id}`, { replace: true, order })
      return screen === 'order' ? orderScreen(order) : resultScreen(order)
    }
    if (screen === 'orders') {
      const orders = await client.orders()
      return current() && ordersScreen(orders)
    }
    if (screen !== 'shop') history.replaceState(null, '', '#/shop')
    const products = await client.products()
    return current() && productsScreen(products, session)
  } catch (error) {
    if (!current()) return undefined
    toast(report(error))
    if (screen !== 'shop' && screen !== 'login') return go('#/shop', { replace: true })
    return undefined
  }
}

function show(screen, content, { back = false } = {}) {
  const hadFocus = document.activeElement === document.body || $('screen').contains(document.activeElement)
  state.screen = screen
  $('nav-title').textContent = TITLES[screen]
  $('nav-back').hidden = !back
  $('tabbar').hidden = !['products', 'orders'].includes(screen)
  for (const tab of document.querySelectorAll('#tabbar button')) {
    const active = tab.dataset.tab === screen
    tab.classList.toggle('active', active)
    if (active) tab.setAttribute('aria-current', 'page')
    else tab.removeAttribute('aria-current')
  }
  const notice = state.notice ? h('div', { class: 'notice', id: 'notice', role: 'status' }, state.notice) : null
  state.notice = ''
  $('screen').replaceChildren(...[notice, ...content].filter(Boolean))
  $('screen').dataset.screen = screen
  $('screen').scrollTop = 0
  // A new screen after a click inside the old one: tell keyboard and screen-reader users where they are.
  if (hadFocus && screen !== 'login') ($('screen').querySelector('[data-heading]') || $('nav-title')).focus({ preventScroll: true })
}

$('nav-back').addEventListener('click', () => history.back())
$('tab-products').addEventListener('click', () => go('#/shop'))
$('tab-orders').addEventListener('click', () => go('#/orders'))

// ---------------------------------------------------------------- screens

function loginScreen() {
  const me = profile()
  const name = h('input', { id: 'nickname', type: 'text', placeholder: 'Your nickname', maxlength: 64, value: me.nickname,
    'aria-describedby': 'nickname-hint', autocomplete: 'nickname' })
  const wxUser = h('input', { id: 'wx-user', type: 'text', value: (wx.user && wx.user.name) || 'demo-shopper', maxlength: 64,
    'aria-describedby': 'wx-user-hint' })
  let colour = me.colour
  const pick = h('button', { class: 'avatar-pick', id: 'avatar-pick', 'aria-label': 'Change avatar colour' })
  const paintAvatar = () => pick.replaceChildren(avatar(name.value, colour))
  pick.addEventListener('click', () => {
    colour += 1
    paintAvatar()
  })
  name.addEventListener('input', paintAvatar)
  paintAvatar()

  const signIn = () =>
    busy(async () => {
      const nickname = name.value.trim()
      wx.useSimulatedUser(wxUser.value.trim() || 'demo-shopper')
      wx.storage.set(PROFILE_KEY, { nickname, colour })
      await client.logout()
      await client.login({ nickname: nickname || undefined })
      await go('#/shop', { replace: location.hash === '#/login' })
    })

  show('login', [
    h('div', { class: 'welcome' },
      pick,
      h('h2', { 'data-heading': true, tabindex: '-1' }, 'Welcome'),
      h('p', { class: 'muted' }, 'Sign in with your (simulated) WeChat account.')),
    h('form', { class: 'mp-card', onsubmit: (event) => (event.preventDefault(), signIn()) },
      h('div', { class: 'field' }, h('label', { for: 'nickname' }, 'Nickname'), name,
        h('div', { class: 'hint', id: 'nickname-hint' }, 'In the mini-program: <input type="nickname"> and <button open-type="chooseAvatar">.')),
      h('div', { class: 'field' }, h('label', { for: 'wx-user' }, 'Simulated WeChat user'), wxUser,
        h('div', { class: 'hint', id: 'wx-user-hint' }, 'Any name: wx.login asks the simulator for this user’s one-time code.')),
      h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', id: 'login', type: 'submit' }, 'Sign in with WeChat'))),
  ])
  name.focus()
}

function productsScreen(products, session) {
  state.products = products.filter((p) => p.active)
  const me = profile()
  const nickname = (session && session.user.nickname) || me.nickname || (wx.user && wx.user.name) || 'shopper'
  const switchUser = () =>
    busy(async () => {
      await client.logout()
      wx.forgetUser()
      await go('#/login')
    })
  const buy = (product) => () =>
    busy(async () => {
      const order = await client.createOrder(product.id, state.quantities[product.id] || 1)
      await go(`#/order/${order.id}`, { order })
    })
  const card = (product, index) => {
    const qty = h('span', { class: 'qty', 'aria-live': 'polite' }, String(state.quantities[product.id] || 1))
    const step = (delta) => () => {
      state.quantities[product.id] = Math.min(99, Math.max(1, (state.quantities[product.id] || 1) + delta))
      qty.textContent = String(state.quantities[product.id])
    }
    const [bg, fg] = THUMB_COLOURS[index % THUMB_COLOURS.length]
    return h('div', { class: 'mp-card product', 'data-product-id': product.id },
      h('div', { class: 'product-thumb', style: `background:${bg};color:${fg}`, 'aria-hidden': 'true' }, product.name.charAt(0).toUpperCase()),
      h('div', { class: 'product-info' },
        h('h2', { class: 'product-name' }, product.name),
        h('div', { class: 'price' }, yuan(product.price_fen))),
      h('div', { class: 'product-side' },
        h('div', { class: 'stepper', role: 'group', 'aria-label': `Quantity of ${product.name}` },
          h('button', { onclick: step(-1), 'aria-label': 'Fewer' }, h('span', { 'aria-hidden': 'true' }, '−')), qty,
          h('button', { onclick: step(1), 'aria-label': 'More' }, h('span', { 'aria-hidden': 'true' }, '+'))),
        h('button', { class: 'btn btn-primary btn-small buy', onclick: buy(product), 'aria-label': `Buy ${product.name}` }, 'Buy')))
  }
  show('products', [
    h('div', { class: 'mp-card hello' },
      avatar(nickname, me.colour, { class: 'avatar small' }),
      h('div', {}, h('div', { class: 'name', id: 'hello-name' }, nickname), h('div', { class: 'muted' }, 'signed in with WeChat')),
      h('button', { class: 'link', id: 'switch-user', onclick: switchUser }, 'Switch user')),
    ...state.products.map(card),
    state.products.length ? null : h('p', { class: 'empty' }, 'No products on sale.'),
  ])
}

function orderRows(order) {
  return h('div', { class: 'mp-card rows' },
    h('div', { class: 'row' }, h('span', {}, 'Item'), h('span', {}, order.description)),
    h('div', { class: 'row' }, h('span', {}, 'Order no.'), h('span', { class: 'mono', id: 'out-trade-no' }, order.out_trade_no)),
    h('div', { class: 'row' }, h('span', {}, 'Status'), statusChip(order.status, 'order-status')),
    h('div', { class: 'row total' }, h('span', {}, 'Total'), h('span', { class: 'price' }, yuan(order.amount_fen))))
}

function orderScreen(order) {
  state.current = order
  show('order', [
    orderRows(order),
    h('div', { class: 'actions' },
      h('button', { class: 'btn btn-primary', id: 'pay', onclick: () => pay(order) }, `Pay ${yuan(order.amount_fen)}`),
      h('button', { class: 'btn', id: 'cancel-order', onclick: () => cancel(order) }, 'Cancel order')),
  ], { back: true })
}

/**
 * The server refused because the order moved on (paid in another tab, closed, not cancellable
 * yet): silverpay.js brought it back as it is now; show that, with the reason, instead of a page
 * that still offers Pay.
 */
function showMovedOn(error) {
  if (!error || !error.order) return false
  state.notice = report(error)
  go(`#/result/${error.order.id}`, { replace: state.screen === 'order', order: error.order })
  return true
}

function pay(order) {
  return busy(async () => {
    sheet.info = order
    try {
      const { order: confirmed, payment } = await client.pay(order)
      state.payments[order.id] = payment
      await go(`#/result/${order.id}`, { replace: state.screen === 'order', order: confirmed })
    } catch (error) {
      if (showMovedOn(error)) return
      if (!error.payment) throw error
      // The sheet ran but the server's answer was lost: show what is known and offer to ask again.
      state.payments[order.id] = error.payment
      state.notice = report(error)
      await go(`#/result/${order.id}`, { replace: state.screen === 'order' })
    } finally {
      sheet.close()
    }
  })
}

// The order as the server answers: CLOSED, or PAID when WeChat had a payment meanwhile.
function cancel(order) {
  return busy(async () => {
    try {
      const updated = await client.cancel(order)
      state.notice = updated.status === 'CLOSED' ? 'Order cancelled.' : `The order is ${statusText(updated.status).toLowerCase()}.`
      await go(`#/result/${order.id}`, { replace: state.screen === 'order', order: updated })
    } catch (error) {
      if (!showMovedOn(error)) throw error
    }
  })
}

function wording(order, payment) {
  const outcome = payment && payment.outcome
  if (order.status === 'PAID') return ['ok', '✓', 'Payment successful', 'WeChat Pay confirmed the payment.']
  if (order.status === 'REFUNDED' || order.status === 'PARTIALLY_REFUNDED') {
    return ['closed', '↺', 'Refunded', 'The payment went back to the WeChat account.']
  }
  if (order.status === 'CLOSED') return ['closed', '–', 'Order closed', 'This order can no longer be paid.']
  if (outcome === 'cancel') return ['wait', '!', 'Payment cancelled', 'The order is kept: pay now or cancel it.']
  if (outcome === 'fail') return ['bad', '✕', 'Payment failed', 'Nothing was charged. You can try again.']
  return ['wait', '…', 'Awaiting payment', 'WeChat has no payment for this order yet.']
}

function resultScreen(order) {
  state.current = order
  const payment = state.payments[order.id] || null
  const [tone, icon, headline, detail] = wording(order, payment)
  const open = isOpen(order)
  const truth = payment
    ? [`wx.requestPayment answered “${payment.errMsg}”. `,
      'The status above is not taken from that answer: silverpay.js then called ',
      h('code', {}, 'POST /confirm'), ' and the server asked WeChat.']
    : ['The status above is the server’s, from WeChat’s own record.']
  const checkAgain = () =>
    busy(async () => {
      await go(`#/result/${order.id}`, { order: await client.confirm(order) })
    })
  show('result', [
    h('div', { class: 'hero', id: 'result', 'data-status': order.status, 'data-sheet': (payment && payment.outcome) || '' },
      h('span', { class: `hero-icon ${tone}`, 'aria-hidden': 'true' }, icon),
      h('h2', { id: 'result-headline', 'data-heading': true, tabindex: '-1' }, headline),
      h('div', { class: 'amount' }, yuan(order.amount_fen)),
      h('div', { class: 'muted' }, detail)),
    orderRows(order),
    order.status === 'PAID' || order.status === 'PARTIALLY_REFUNDED' ? shipmentCard(order) : null,
    h('div', { class: 'truth' }, ...truth),
    h('div', { class: 'actions' },
      open ? h('button', { class: 'btn btn-primary', id: 'pay-again', onclick: () => pay(order) }, 'Pay now') : null,
      open ? h('button', { class: 'btn', id: 'cancel-order', onclick: () => cancel(order) }, 'Cancel order') : null,
      open ? h('button', { class: 'btn', id: 'check-again', onclick: checkAgain }, 'Check again') : null,
      h('button', { class: 'btn', id: 'to-orders', onclick: () => go('#/orders') }, 'My orders'),
      h('button', { class: 'btn', id: 'to-shop', onclick: () => go('#/shop') }, 'Continue shopping')),
  ])
}

// ---------------------------------------------------------------- shipping (WeChat holds the money until receipt)

const SHIPMENT_TEXT = {
  NOT_SHIPPED: 'Not shipped yet',
  SHIPPING_SUBMITTED: 'Shipping being recorded',
  SHIPPED: 'Shipped',
  RECEIVED: 'Receipt confirmed',
  SETTLED: 'Complete: funds settled',
}

/** The order's shipping, loaded after the page; "Confirm receipt" once it is shipped. */
function shipmentCard(order) {
  const title = () => h('span', {}, 'Shipping')
  const card = h('div', { class: 'mp-card rows', id: 'shipment', 'data-state': '' },
    h('div', { class: 'row' }, title(), h('span', { class: 'muted' }, 'loading…')))
  const fill = (shipment) => {
    card.dataset.state = shipment.state
    card.replaceChildren(
      h('div', { class: 'row' }, title(), h('span', { id: 'shipment-state' }, SHIPMENT_TEXT[shipment.state] || shipment.state)),
      ...shipment.parcels.map((p) => h('div', { class: 'row' },
        h('span', { class: 'muted' }, p.tracking_no ? `${p.express_company} ${p.tracking_no}` : 'Delivered in the app'),
        h('span', {}, p.item_desc))),
      ...(shipment.can_confirm_receipt
        ? [h('button', { class: 'btn btn-primary', id: 'confirm-receipt', onclick: () => confirmReceipt(shipment, fill) },
          'Confirm receipt')]
        : []))
  }
  client.shipment(order).then(fill, (error) => {
    card.replaceChildren(h('div', { class: 'row' }, title(), h('span', { class: 'muted' }, report(error))))
  })
  return card
}

/** WeChat's confirmation page (the simulator here), then the server asks WeChat: its answer is shown. */
function confirmReceipt(shipment, fill) {
  return busy(async () => {
    const { shipment: fresh, errMsg } = await client.confirmReceipt(shipment)
    fill(fresh)
    toast(`wx.openBusinessView answered “${errMsg}”; WeChat's record says: ${SHIPMENT_TEXT[fresh.state] || fresh.state}`)
  })
}

function ordersScreen(orders) {
  const item = (order) => {
    const when = new Date(order.created_at).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'short' })
    return h('li', {},
      h('a', { class: 'mp-card order-item', href: `#/${isOpen(order) ? 'order' : 'result'}/${order.id}`,
        'data-order-id': order.id, 'data-status': order.status },
        h('span', { class: 'line' }, h('strong', {}, order.description), statusChip(order.status)),
        h('span', { class: 'line' }, h('span', { class: 'muted' }, when), h('span', { class: 'price' }, yuan(order.amount_fen)))))
  }
  show('orders', orders.length ? [h('ul', { class: 'order-list' }, orders.map(item))] : [h('p', { class: 'empty' }, 'No orders yet.')])
}

// ---------------------------------------------------------------- the simulator panel

$('sim-docs').href = `${config.simBase}/docs`
let notificationsSeen = ''
let faultsPending = false

/** The merchant's reply to a notification, in words: `SUCCESS OK` rather than raw XML or JSON. */
function replyText(body) {
  if (!body) return ''
  const field = (name) => (new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<\\]]*)`).exec(body) || [])[1]
  if (body.trimStart().startsWith('<')) return [field('return_code'), field('return_msg')].filter(Boolean).join(' ')
  try {
    const json = JSON.parse(body)
    return [json.code, json.message].filter(Boolean).join(' ')
  } catch {
    return body.slice(0, 80)
  }
}

function notificationRow(a) {
  const dropped = a.attempt === 0 && /dropped/.test(a.error || '')
  const reply = replyText(a.response_body)
  const [outcome, tag, label, explained] = a.acknowledged
    ? ['acknowledged', 'ok', `HTTP ${a.http_status} · acknowledged`, `the service acknowledged it${reply ? ` (${reply})` : ''}`]
    : dropped
      ? ['dropped', 'drop', 'dropped (fault)', 'dropped by fault injection, never sent']
      : ['failed', 'bad', a.http_status ? `HTTP ${a.http_status}` : 'no answer',
          a.http_status ? `the service answered HTTP ${a.http_status}${reply ? ` (${reply})` : ''}` : `no answer: ${a.error || 'unknown'}`]
  const current = state.current && state.current.out_trade_no === a.out_trade_no
  const time = new Date(a.time).toLocaleTimeString('en-GB')
  const name = `Notification for order ${a.out_trade_no}${dropped ? '' : `, attempt ${a.attempt}`}, ${time}: ${explained}`
  return h('li', { class: current ? 'current' : '', 'data-out-trade-no': a.out_trade_no, 'data-outcome': outcome,
    title: name, 'aria-label': name },
    h('span', { class: 'time' }, time),
    // (kind mp_push: a mini-program message push to the service's mp-events, e.g. a shipping event)
    h('span', { class: 'what' }, h('code', {}, a.kind === 'mp_push' ? `message push ${a.out_trade_no || ''}` : a.out_trade_no),
      dropped ? ' never sent' : ` · attempt ${a.attempt}`),
    h('span', { class: `tag ${tag}` }, label))
}

async function pollSimulator() {
  try {
    const [attempts, faults] = await Promise.all([
      fetch(`${config.simBase}/sim/v1/notifications`).then((r) => r.json()),
      fetch(`${config.simBase}/sim/v1/faults`).then((r) => r.json()),
    ])
    $('notif-live').classList.remove('stale')
    $('notif-live').textContent = 'live'
    if (!faultsPending) $('drop-toggle').checked = faults.notify_drop_rate >= 1
    const seen = JSON.stringify([attempts, state.current && state.current.out_trade_no])
    if (seen !== notificationsSeen) {
      notificationsSeen = seen
      $('notifications').replaceChildren(
        ...(attempts.length
          ? attempts.slice().reverse().map(notificationRow)
          : [h('li', {}, h('span', { class: 'placeholder' }, 'No notifications yet: pay for an order and watch WeChat call the service.'))]),
      )
    }
  } catch {
    $('notif-live').classList.add('stale')
    $('notif-live').textContent = 'simulator unreachable'
  }
}

$('drop-toggle').addEventListener('change', async (event) => {
  faultsPending = true
  try {
    await fetch(`${config.simBase}/sim/v1/faults`, event.target.checked
      ? { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ notify_drop_rate: 1 }) }
      : { method: 'DELETE' })
  } finally {
    faultsPending = false
    pollSimulator()
  }
})

pollSimulator()
setInterval(pollSimulator, 1000)

// ---------------------------------------------------------------- start: the screen the address names

await render()
document.body.dataset.ready = 'true'

// The browser demo: a phone-sized shop running the mini-program client module (silverpay.js) with
// a browser `wx` adapter, and a side panel showing what the WeChat simulator does meanwhile.
import { createClient } from './silverpay.js'
import { browserWx } from './wx-browser.js'

const config = await (await fetch(new URL('config.json', import.meta.url))).json()
const PROFILE_KEY = 'silverpay.demo.profile'
const AVATAR_COLOURS = ['#07c160', '#3b82f6', '#f59e0b', '#ef4444', '#8b5cf6', '#14b8a6']
const THUMB_COLOURS = [['#fdf0e1', '#b45c00'], ['#e8f3ff', '#1d6fd6'], ['#eefbf3', '#07a355'], ['#f5edff', '#7c3aed']]
const STATUS_TEXT = { CREATED: 'Not paid', PAYING: 'Awaiting payment', PAID: 'Paid', CLOSED: 'Closed' }

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
const statusChip = (status, id) => h('span', { class: `status status-${status}`, id }, STATUS_TEXT[status] || status)

function describe(error) {
  if (error && error.code === 'NETWORK_ERROR') return 'No connection to the shop server.'
  if (error && error.code === 'CANCEL_TOO_EARLY') {
    return `WeChat can close an order only 5 minutes after payment started: try again in ${error.retryAfterS} s.`
  }
  return (error && error.message) || String(error)
}

// ---------------------------------------------------------------- the payment sheet (WeChat's UI)

const sheet = {
  info: null,
  open(params) {
    $('sheet-amount').textContent = this.info ? yuan(this.info.amount_fen) : ''
    $('sheet-merchant').textContent = this.info ? this.info.description : 'silverpay demo merchant'
    $('sheet-order').textContent = this.info ? this.info.out_trade_no : params.package
    $('sheet').hidden = false
    $('sheet-pay').disabled = false
    $('sheet-pay').textContent = 'Pay'
    return new Promise((resolve) => {
      const choose = (outcome) => () => {
        $('sheet-pay').onclick = $('sheet-cancel').onclick = $('sheet-fail').onclick = null
        if (outcome === 'success') {
          $('sheet-pay').disabled = true
          $('sheet-pay').textContent = 'Paying…'
        }
        resolve(outcome)
      }
      $('sheet-pay').onclick = choose('success')
      $('sheet-cancel').onclick = choose('cancel')
      $('sheet-fail').onclick = choose('fail')
    })
  },
  close() {
    $('sheet').hidden = true
  },
}

// ---------------------------------------------------------------- client, adapter, call log

const calls = []
function logCall(call) {
  calls.unshift({ ...call, at: new Date() })
  calls.length = Math.min(calls.length, 40)
  $('calls').replaceChildren(
    ...calls.map((c) =>
      h(
        'li',
        {},
        h('span', { class: 'time' }, c.at.toLocaleTimeString('en-GB')),
        h('span', { class: 'what' }, h('code', {}, c.label)),
        h('span', { class: `tag ${c.ok ? (c.kind === 'wx' ? 'info' : 'ok') : 'bad'}` }, String(c.status)),
      ),
    ),
  )
}

const wx = browserWx({
  simBase: config.simBase,
  appid: config.appid,
  choose: (params) => sheet.open(params),
  settled: () => sheet.close(),
  onCall: logCall,
})
const client = createClient({ apiBase: config.apiBase, wx })

// ---------------------------------------------------------------- screens

// payments: what the sheet last said per order id, so that later screens can still explain an unpaid order.
const state = { screen: null, products: [], quantities: {}, notice: '', busy: false, current: null, payments: {} }

function profile() {
  const stored = JSON.parse(localStorage.getItem(PROFILE_KEY) || 'null')
  return stored || { nickname: '', colour: 0 }
}

function avatar(nickname, colour, extra = {}) {
  const initial = (nickname || '?').trim().charAt(0).toUpperCase() || '?'
  return h('span', { class: 'avatar', style: `background:${AVATAR_COLOURS[colour % AVATAR_COLOURS.length]}`, ...extra }, initial)
}

let toastTimer = null
function toast(message) {
  $('toast').textContent = message
  $('toast').hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => {
    $('toast').hidden = true
  }, 3200)
}

async function busy(task) {
  if (state.busy) return
  state.busy = true
  document.querySelectorAll('#screen button').forEach((b) => (b.disabled = true))
  try {
    await task()
  } catch (error) {
    toast(describe(error))
  } finally {
    state.busy = false
    document.querySelectorAll('#screen button').forEach((b) => (b.disabled = false))
  }
}

const TITLES = { login: 'silverpay shop', products: 'Shop', order: 'Confirm order', result: 'Payment result', orders: 'My orders' }

function show(screen, content, { back = null } = {}) {
  state.screen = screen
  $('nav-title').textContent = TITLES[screen]
  $('nav-back').hidden = !back
  $('nav-back').onclick = back
  $('tabbar').hidden = !['products', 'orders'].includes(screen)
  for (const tab of document.querySelectorAll('#tabbar button')) tab.classList.toggle('active', tab.dataset.tab === screen)
  const notice = state.notice ? h('div', { class: 'notice', id: 'notice' }, state.notice) : null
  state.notice = ''
  $('screen').replaceChildren(...[notice, ...content].filter(Boolean))
  $('screen').dataset.screen = screen
  $('screen').scrollTop = 0
}

function loginScreen() {
  const me = profile()
  const name = h('input', { id: 'nickname', type: 'text', placeholder: 'Your nickname', maxlength: 64, value: me.nickname })
  const wxUser = h('input', { id: 'wx-user', type: 'text', value: (wx.user && wx.user.name) || 'demo-shopper', maxlength: 64 })
  let colour = me.colour
  const pick = h('button', { class: 'avatar-pick', id: 'avatar-pick', style: 'border:0;background:none;padding:0', title: 'choose avatar' })
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
      localStorage.setItem(PROFILE_KEY, JSON.stringify({ nickname, colour }))
      await client.logout()
      await client.login({ nickname: nickname || undefined })
      await productsScreen()
    })

  show('login', [
    h('div', { class: 'welcome' },
      pick,
      h('h1', {}, 'Welcome'),
      h('p', { class: 'muted' }, 'Sign in with your (simulated) WeChat account.')),
    h('div', { class: 'mp-card' },
      h('label', { class: 'field' }, h('span', {}, 'Nickname'), name,
        h('div', { class: 'hint' }, 'In the mini-program: <input type="nickname"> and <button open-type="chooseAvatar">.')),
      h('label', { class: 'field' }, h('span', {}, 'Simulated WeChat user'), wxUser,
        h('div', { class: 'hint' }, 'Any name: wx.login asks the simulator for this user’s one-time code.')),
      h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', id: 'login', onclick: signIn }, 'Sign in with WeChat'))),
  ])
  name.focus()
}

async function productsScreen() {
  const [products, session] = await Promise.all([client.products(), client.session()])
  state.products = products.filter((p) => p.active)
  const me = profile()
  const nickname = (session && session.user.nickname) || me.nickname || (wx.user && wx.user.name) || 'shopper'
  const switchUser = async () => {
    await client.logout()
    wx.forgetUser()
    loginScreen()
  }
  const buy = (product) => () =>
    busy(async () => {
      const order = await client.createOrder(product.id, state.quantities[product.id] || 1)
      orderScreen(order)
    })
  const card = (product, index) => {
    const qty = h('span', { class: 'qty' }, String(state.quantities[product.id] || 1))
    const step = (delta) => () => {
      state.quantities[product.id] = Math.min(99, Math.max(1, (state.quantities[product.id] || 1) + delta))
      qty.textContent = String(state.quantities[product.id])
    }
    const [bg, fg] = THUMB_COLOURS[index % THUMB_COLOURS.length]
    return h('div', { class: 'mp-card product', 'data-product-id': product.id },
      h('div', { class: 'product-thumb', style: `background:${bg};color:${fg}` }, product.name.charAt(0).toUpperCase()),
      h('div', { class: 'product-info' },
        h('div', { class: 'product-name' }, product.name),
        h('div', { class: 'price' }, yuan(product.price_fen))),
      h('div', { class: 'product-side' },
        h('div', { class: 'stepper' },
          h('button', { onclick: step(-1), 'aria-label': 'fewer' }, '−'), qty,
          h('button', { onclick: step(1), 'aria-label': 'more' }, '+')),
        h('button', { class: 'btn btn-primary btn-small buy', onclick: buy(product) }, 'Buy')))
  }
  show('products', [
    h('div', { class: 'mp-card hello' },
      avatar(nickname, me.colour, { class: 'avatar small' }),
      h('div', {}, h('div', { class: 'name', id: 'hello-name' }, nickname), h('div', { class: 'muted' }, 'signed in with WeChat')),
      h('button', { class: 'link', onclick: switchUser }, 'Switch user')),
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
  ], { back: () => busy(productsScreen) })
}

function pay(order) {
  return busy(async () => {
    sheet.info = order
    try {
      const { order: confirmed, payment } = await client.pay(order)
      resultScreen(confirmed, payment)
    } catch (error) {
      if (!error.payment) throw error
      // The sheet ran but the server's answer was lost: show what is known and offer to ask again.
      state.notice = describe(error)
      resultScreen(order, error.payment)
    } finally {
      sheet.close()
    }
  })
}

function cancel(order) {
  return busy(async () => {
    try {
      const updated = await client.cancel(order)
      state.notice = updated.status === 'PAID' ? 'WeChat says this order was paid meanwhile.' : 'Order cancelled.'
      resultScreen(updated)
    } catch (error) {
      if (error.code !== 'CANCEL_TOO_EARLY') throw error
      state.notice = describe(error)
      resultScreen(await client.order(order))
    }
  })
}

function wording(order, payment) {
  const outcome = payment && payment.outcome
  if (order.status === 'PAID') return ['ok', '✓', 'Payment successful', 'WeChat Pay confirmed the payment.']
  if (order.status === 'CLOSED') return ['closed', '–', 'Order closed', 'This order can no longer be paid.']
  if (outcome === 'cancel') return ['wait', '!', 'Payment cancelled', 'The order is kept: pay now or cancel it.']
  if (outcome === 'fail') return ['bad', '✕', 'Payment failed', 'Nothing was charged. You can try again.']
  return ['wait', '…', 'Awaiting payment', 'WeChat has no payment for this order yet.']
}

function resultScreen(order, payment = state.payments[order.id] || null) {
  state.current = order
  if (payment) state.payments[order.id] = payment
  const [tone, icon, headline, detail] = wording(order, payment)
  const open = order.status === 'CREATED' || order.status === 'PAYING'
  const truth = payment
    ? [`wx.requestPayment answered “${payment.errMsg}”. `,
      'The status above is not taken from that answer: silverpay.js then called ',
      h('code', {}, 'POST /confirm'), ' and the server asked WeChat.']
    : ['The status above is the server’s, from WeChat’s own record.']
  show('result', [
    h('div', { class: 'hero', id: 'result', 'data-status': order.status, 'data-sheet': (payment && payment.outcome) || '' },
      h('span', { class: `hero-icon ${tone}` }, icon),
      h('h1', { id: 'result-headline' }, headline),
      h('div', { class: 'amount' }, yuan(order.amount_fen)),
      h('div', { class: 'muted' }, detail)),
    orderRows(order),
    h('div', { class: 'truth' }, ...truth),
    h('div', { class: 'actions' },
      open ? h('button', { class: 'btn btn-primary', id: 'pay-again', onclick: () => pay(order) }, 'Pay now') : null,
      open ? h('button', { class: 'btn', id: 'cancel-order', onclick: () => cancel(order) }, 'Cancel order') : null,
      open ? h('button', { class: 'btn', id: 'check-again', onclick: () => busy(async () => resultScreen(await client.confirm(order), payment)) }, 'Check again') : null,
      h('button', { class: 'btn', id: 'to-orders', onclick: () => busy(ordersScreen) }, 'My orders'),
      h('button', { class: 'btn', id: 'to-shop', onclick: () => busy(productsScreen) }, 'Continue shopping')),
  ])
}

async function ordersScreen() {
  const orders = await client.orders()
  const item = (order) => {
    const open = order.status === 'CREATED' || order.status === 'PAYING'
    return h('div', { class: 'mp-card order-item', 'data-order-id': order.id, 'data-status': order.status,
      onclick: () => (open ? orderScreen(order) : resultScreen(order)) },
      h('div', { class: 'line' }, h('strong', {}, order.description), statusChip(order.status)),
      h('div', { class: 'line' },
        h('span', { class: 'muted' }, new Date(order.created_at).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'short' })),
        h('span', { class: 'price' }, yuan(order.amount_fen))))
  }
  show('orders', orders.length ? orders.map(item) : [h('p', { class: 'empty' }, 'No orders yet.')])
}

$('tab-products').addEventListener('click', () => busy(productsScreen))
$('tab-orders').addEventListener('click', () => busy(ordersScreen))

// ---------------------------------------------------------------- the simulator panel

$('sim-docs').href = `${config.simBase}/docs`
let notificationsSeen = ''
let faultsPending = false

function notificationRow(a) {
  const dropped = a.attempt === 0 && /dropped/.test(a.error || '')
  const [outcome, tag, label] = a.acknowledged
    ? ['acknowledged', 'ok', `HTTP ${a.http_status} · acknowledged`]
    : dropped
      ? ['dropped', 'drop', 'dropped (fault)']
      : ['failed', 'bad', a.http_status ? `HTTP ${a.http_status}` : 'no answer']
  const current = state.current && state.current.out_trade_no === a.out_trade_no
  return h('li', { class: current ? 'current' : '', 'data-out-trade-no': a.out_trade_no, 'data-outcome': outcome,
    title: a.error || a.response_body || '' },
    h('span', { class: 'time' }, new Date(a.time).toLocaleTimeString('en-GB')),
    h('span', { class: 'what' }, h('code', {}, a.out_trade_no), dropped ? ' never sent' : ` · attempt ${a.attempt}`),
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

// ---------------------------------------------------------------- start

const session = await client.session()
if (session && wx.user) await busy(productsScreen)
else loginScreen()
document.body.dataset.ready = 'true'

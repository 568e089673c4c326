// A real silverpay service and WeChat simulator as subprocesses on free ports, for the Node tests.
// Kept out of test/ because `node --test` runs every file in a directory named test.
import { spawn } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const PYTHON = process.env.SILVERPAY_PYTHON || path.join(REPO, '.venv', 'bin', 'python')
export const APPID = 'wx8a3fc5d0b7e21946' // the simulator's demo mini-program (src/silverpay/sim/config.py)
// Known to the tests so that they can sign a token the server accepts but considers expired.
export const JWT_SECRET = 'node-tests-jwt-secret-not-for-production-0123'

const running = new Set()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function launch(args, env, dir, logName) {
  const logPath = path.join(dir, logName)
  const fd = openSync(logPath, 'w')
  const child = spawn(PYTHON, ['-m', 'silverpay', ...args], {
    cwd: dir, // no stray .env from the caller's directory
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  })
  closeSync(fd)
  running.add(child)
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    })
    child.once('error', (error) => {
      running.delete(child)
      resolve({ code: null, signal: null, error })
    })
  })
  return { child, exited, logPath, log: () => readFileSync(logPath, 'utf8'), done: false }
}

async function ready(proc, url, name, timeoutMs = 30000) {
  proc.exited.then(() => {
    proc.done = true
  })
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc.done) throw new Error(`${name} exited before it was ready:\n${proc.log()}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
      if (response.status < 500) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready within ${timeoutMs} ms:\n${proc.log()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function stop(proc) {
  if (proc.done) return
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10000)
  await proc.exited
  clearTimeout(timer)
}

/** Start the simulator and the service; resolves { apiBase, simBase, logs(), stop() }. */
export async function startStack({ tokenTtlS = 7200 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'silverpay-node-'))
  const [simPort, apiPort] = [await freePort(), await freePort()]
  const simBase = `http://127.0.0.1:${simPort}`
  const apiBase = `http://127.0.0.1:${apiPort}`
  const sim = launch(
    ['sim', '--host', '127.0.0.1', '--port', String(simPort), '--time-scale', '0.01'],
    {},
    dir,
    'sim.log',
  )
  const service = launch(
    ['serve', '--host', '127.0.0.1', '--port', String(apiPort)],
    {
      SILVERPAY_DEMO_MODE: '1',
      SILVERPAY_DATABASE_URL: `sqlite+aiosqlite:///${path.join(dir, 'silverpay.db')}`,
      SILVERPAY_WECHAT_PAY_BASE: simBase,
      SILVERPAY_WECHAT_LOGIN_BASE: simBase,
      SILVERPAY_NOTIFY_URL: `${apiBase}/api/v1/wechat/notify`,
      SILVERPAY_TOKEN_TTL_S: String(tokenTtlS),
      SILVERPAY_JWT_SECRET: JWT_SECRET,
    },
    dir,
    'service.log',
  )
  const stack = {
    apiBase,
    simBase,
    dir,
    logs: () => `--- simulator ---\n${sim.log()}\n--- service ---\n${service.log()}`,
    stop: () => Promise.all([stop(service), stop(sim)]),
  }
  try {
    await Promise.all([ready(sim, `${simBase}/sim/v1/clock`, 'simulator'), ready(service, `${apiBase}/healthz`, 'service')])
  } catch (error) {
    await stack.stop()
    throw error
  }
  return stack
}

/** A call to the simulator's control API (faults, notifications, trades). */
export async function simControl(stack, method, urlPath, body) {
  const response = await fetch(stack.simBase + urlPath, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${urlPath}: HTTP ${response.status} ${text}`)
  return text ? JSON.parse(text) : null
}

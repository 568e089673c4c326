// A tap handler that cannot run twice at once. setData is asynchronous (the view learns of
// `disabled` only after a round trip), so a double tap reaches the handler twice before the
// button greys out: the flag must be set synchronously, on the page instance itself.

const RUNNING = Symbol('silverpay.running')

/**
 * exclusive('pay', async function (event) { … }) → a handler that ignores calls while the
 * previous call with the same name on the same page is unfinished (answers undefined then).
 */
export function exclusive(name, handler) {
  return function guarded(...args) {
    const running = this[RUNNING] || (this[RUNNING] = new Set())
    if (running.has(name)) return undefined
    running.add(name)
    let result
    try {
      result = handler.apply(this, args)
    } catch (error) {
      running.delete(name)
      throw error
    }
    return Promise.resolve(result).finally(() => running.delete(name))
  }
}

/** Whether a guarded handler of that name is running on this page (for tests and templates). */
export function isRunning(page, name) {
  return Boolean(page[RUNNING] && page[RUNNING].has(name))
}

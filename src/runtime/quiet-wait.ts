/**
 * Waiting for the device without spinning a core, in Node.
 *
 * Dawn for Node answers its pending promises (`mapAsync`, `onSubmittedWorkDone`) by polling the
 * device from a chain of `setImmediate` calls, looked up on the global object at every link, for
 * as long as one is pending: the JavaScript thread runs at 100% of a core while it waits. On
 * llvmpipe the "GPU" is the CPU's cores, so that loop takes a core from the kernels it waits for
 * (on 2 cores the MLP step's JavaScript thread used 36-60 ms of CPU per step, beside 30 ms on each
 * of llvmpipe's two threads; the step took 75-118 ms of wall time, and 41-42 ms with the polls
 * spaced by a timer).
 *
 * So while netc waits on the device, the global `setImmediate` is a 1 ms timer: each poll then
 * sleeps in the event loop first. The swap lasts only as long as some wait is pending; code that
 * calls `setImmediate` meanwhile gets its callback up to 1 ms later, still asynchronously.
 */

type Immediate = typeof globalThis.setImmediate;

const POLL_MS = 1;
let waiting = 0;
let original: Immediate | undefined;

// NOTE: the timer as it was when netc loaded: a test's fake timers installed later would never fire the polls.
const timer = globalThis.setTimeout;
const spaced = ((callback: (...args: unknown[]) => void, ...args: unknown[]) => timer(callback, POLL_MS, ...args)) as unknown as Immediate;

/** Awaits `wait` (a promise of the device's) with Dawn's polls spaced by a timer when `spins` (see GpuContext.spinsWhileWaiting). */
export async function quietWait<T>(spins: boolean | undefined, wait: Promise<T>): Promise<T> {
  if (!spins) return wait;
  if (waiting++ === 0) {
    original = globalThis.setImmediate;
    globalThis.setImmediate = spaced;
  }
  try {
    return await wait;
  } finally {
    if (--waiting === 0) globalThis.setImmediate = original!;
  }
}

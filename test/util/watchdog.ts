import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeEach, expect } from "vitest";

// A watchdog for every test file (vitest's setupFiles). vitest's own timeouts are timers on the
// test's thread, so a call that never returns to the event loop (a native Dawn or Mesa wait, a
// runaway loop) holds a test worker, and with it the whole run, until CI's time is up. A worker
// thread keeps time instead: after NETC_TEST_STALL seconds (default 900) with no test starting,
// or NETC_TEST_EXIT seconds (default 120) after the file's last hook while the process is still
// alive, it names the file and the test on stderr and in .tmp/watchdog/, and kills the process;
// vitest then reports the file as failed and goes on with the others.

const stallSeconds = Number(process.env["NETC_TEST_STALL"] ?? 900);
const exitSeconds = Number(process.env["NETC_TEST_EXIT"] ?? 120);
const file = expect.getState().testPath ?? "(unknown file)";
const record = join(import.meta.dirname, "..", "..", ".tmp", "watchdog");

const WATCH = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeFileSync, writeSync } = require("node:fs");
let current = "(before the first test)";
let timer;
function arm(seconds, what) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    const line = "watchdog: " + workerData.file + " > " + current + ": " + what + " " + seconds + " s; killing its process " + process.pid + "\\n";
    writeSync(2, line);
    try { writeFileSync(workerData.record, line); } catch {}
    process.kill(process.pid, "SIGKILL");
  }, seconds * 1000);
}
arm(workerData.stallSeconds, "no progress for");
parentPort.on("message", (m) => {
  if (m.test !== undefined) { current = m.test; arm(workerData.stallSeconds, "no progress for"); }
  else if (m.done) { current = "(after its tests)"; arm(workerData.exitSeconds, "still alive after its tests by"); }
});
`;

mkdirSync(record, { recursive: true });
const watcher = new Worker(WATCH, {
  eval: true,
  workerData: { file, stallSeconds, exitSeconds, record: join(record, `${basename(file)}.${process.pid}.txt`) },
});
watcher.unref();

beforeEach((ctx) => {
  watcher.postMessage({ test: ctx.task.name });
});

afterAll(() => {
  watcher.postMessage({ done: true });
});

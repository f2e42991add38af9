#!/usr/bin/env node
// The netc command: runs the compiled CLI (npm run build, or scripts/setup.sh, produces dist/).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

if (!process.env.XDG_RUNTIME_DIR) {
  // NOTE: Dawn's Vulkan loader wants a runtime dir; CI shells and chroots often have none.
  const { mkdirSync } = await import("node:fs");
  const dir = `/tmp/netc-xdg-${process.getuid?.() ?? "user"}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

const argv = process.argv.slice(2);
/** Commands that may open a WebGPU device. */
const GPU_COMMANDS = new Set(["train", "eval", "run", "sample", "conformance", "bench"]);
const cpuOnly = argv.some((a, i) => a === "--backend=cpu" || (a === "--backend" && argv[i + 1] === "cpu"));
// Dawn's notices about limits it clamps (`Warning: maxDynamic...BuffersPerPipelineLayout
// artificially reduced ...`) are written by native code straight to file descriptor 2, which
// JavaScript cannot filter; they say nothing to a netc user.
const DAWN_NOTICE = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;

if (GPU_COMMANDS.has(argv[0] ?? "") && !cpuOnly && process.env.NETC_STDERR_FILTERED !== "1") {
  // NOTE: so a command that opens a device runs in a child whose stderr passes through a line
  // filter here; stdin and stdout are the child's own (a terminal stays a terminal for progress bars).
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    stdio: ["inherit", "inherit", "pipe"],
    env: { ...process.env, NETC_STDERR_FILTERED: "1" },
  });
  let pending = "";
  const pass = (line) => {
    if (!DAWN_NOTICE.test(line)) process.stderr.write(line + "\n");
  };
  child.stderr.setEncoding("utf8").on("data", (s) => {
    const lines = (pending + s).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) pass(line);
  });
  // NOTE: a terminal's Ctrl-C reaches the child too (same process group); a signal sent to this
  // process alone is passed on. Either way the exit is the child's.
  const forward = (signal) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, forward);
  child.on("close", (code, signal) => {
    if (pending) process.stderr.write(DAWN_NOTICE.test(pending) ? "" : pending);
    if (signal) {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.removeListener(s, forward);
      process.kill(process.pid, signal);
    } else process.exitCode = code ?? 1;
  });
} else {
  // NOTE: the CLI bundled into one file loads faster (scripts/bundle-cli.mjs, run by `npm run
  // build`); a bundle older than the compiled modules (tsc run alone since) is not used.
  const { statSync } = await import("node:fs");
  const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
  const bundled = mtime("../dist/src/cli/main.bundle.js") >= mtime("../dist/src/cli/main.js");
  const { main } = await import(bundled ? "../dist/src/cli/main.bundle.js" : "../dist/src/cli/main.js");
  // NOTE: output piped into a reader that stops early (`netc ir F | head`) ends quietly, not with EPIPE.
  process.stdout.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  process.exitCode = await main(argv);
}

#!/usr/bin/env node
// `npm run demo`: builds the browser demo into .tmp/web-demo (the first run trains its two models
// with the CLI, a few minutes on llvmpipe; later runs reuse the checkpoints) and serves it on
// 127.0.0.1. Options: --port N (default 8080), --retrain (train the models again).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, buildDemo, serve } from "./build.mjs";

const args = process.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: npm run demo [-- --port N] [--retrain]");
  process.exit(2);
}
const out = join(ROOT, ".tmp", "web-demo");
if (args.includes("--retrain")) rmSync(join(out, "ckpt"), { recursive: true, force: true });

const t0 = performance.now();
await buildDemo({
  out,
  models: { clothing: {}, digits: {} },
  log: (line) => {
    if (!line.startsWith("Warning: ")) console.log(`[demo] ${line}`);
  },
});
console.log(`[demo] built in ${((performance.now() - t0) / 1000).toFixed(1)} s into ${out}`);
const site = await serve(out, { port });
console.log(`[demo] open ${site.url} in a browser with WebGPU (Chrome or Edge; without it the page runs on the CPU reference). Ctrl-C stops.`);

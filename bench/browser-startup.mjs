#!/usr/bin/env node
// Start-up of a built model in a page: Debian's Chromium (headless, WebGPU on its SwiftShader)
// opens the demo page (examples/web) with one model and the page records the time from
// navigation to its first prediction (page.js, the shared runtime chunk, the model module and
// its weights fetched; the device opened; every pipeline of the batch-1 kernels created in
// parallel; one prediction run and read back). Cold: a fresh browser (empty HTTP and shader
// caches); warm: a second navigation in the same browser (HTTP revalidated with 304s, shaders
// cached). Each run is a new browser.
//
//   node bench/browser-startup.mjs [--runs N] [--models iris,clothing]
//
// Models are trained once into .tmp/bench-browser/ckpt (iris: its training section; clothing,
// the Fashion-MNIST CNN: 20 steps, enough for timing) and built with `netc build`.
import { join } from "node:path";
import { ROOT, buildDemo, launchChromium, serve } from "../examples/web/build.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(opt("runs", "3"));
const models = opt("models", "iris,clothing").split(",");
const OUT = join(ROOT, ".tmp", "bench-browser");
const TRAIN = { iris: {}, clothing: { train: ["--limit", "1280", "--epochs", "1"] } };

const built = await buildDemo({ out: OUT, models: Object.fromEntries(models.map((m) => [m, TRAIN[m] ?? {}])) });
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const js = Object.entries(built.outputs).filter(([f]) => f.endsWith(".js"));
console.log(`page bundle: ${js.map(([f, o]) => `${f.replace(/^.*bench-browser\//, "")} ${kib(o.bytes)}`).join(", ")}`);
const site = await serve(OUT);

const results = {};
for (const model of models) {
  results[model] = { cold: [], warm: [] };
  for (let r = 0; r < runs; r++) {
    const browser = await launchChromium({ webgpu: true });
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      for (const kind of ["cold", "warm"]) {
        await page.goto(`${site.url}?model=${model}`);
        const ready = await page.evaluate(() => window.netcDemo.ready);
        if (ready.backend !== "webgpu") throw new Error(`${model}: ran on ${ready.backend}`);
        results[model][kind].push(ready.firstPredictionMs);
        console.log(JSON.stringify({ model, run: r + 1, kind, firstPredictionMs: Math.round(ready.firstPredictionMs), device: ready.device }));
      }
      if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
    } finally {
      await browser.close();
    }
  }
}
await site.close();

const range = (xs) => `${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)} s`;
console.log("\n| model | navigation → first prediction, cold | warm (second load) |\n|---|---|---|");
for (const [model, r] of Object.entries(results)) console.log(`| ${model} | ${range(r.cold)} | ${range(r.warm)} |`);

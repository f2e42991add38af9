#!/usr/bin/env node
// Built models in an app: for each model, fresh Node processes time (from process start) the
// import of the built module, load() and the first and second predictions, with an empty Mesa
// shader cache (cold) and a filled one (warm); then the size of netc/runtime bundled for the
// browser (esbuild, minified, gzipped) with the CPU reference as its own chunk.
//
//   node bench/embed.mjs [--runs N] [--models iris,mnist-cnn]
//
// Models are trained once into .tmp/bench-embed/ (iris: its training section; mnist-cnn: one
// epoch on 12,000 images, as the README's first command) and built with `netc build`.
// Prints one JSON line per measurement and a table.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const ROOT = join(import.meta.dirname, "..");
const WORK = join(ROOT, ".tmp", "bench-embed");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(opt("runs", "3"));
const models = opt("models", "iris,mnist-cnn").split(",");

const MODELS = {
  iris: { example: "examples/iris.net", module: "iris", train: [], rows: () => [5.1, 3.5, 1.4, 0.2] },
  "mnist-cnn": { example: "examples/mnist-cnn.net", module: "mnist_cnn", train: ["--limit", "12000", "--epochs", "1"], rows: () => Array.from({ length: 784 }, (_, i) => (i * 37) % 256) },
};

const netc = (...a) => execFileSync(process.execPath, [join(ROOT, "bin", "netc.js"), ...a], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });

mkdirSync(WORK, { recursive: true });
const results = [];
const emit = (r) => {
  results.push(r);
  console.log(JSON.stringify(r));
};

for (const name of models) {
  const m = MODELS[name];
  if (!m) throw new Error(`unknown model ${name}; known: ${Object.keys(MODELS).join(", ")}`);
  const ckpt = join(WORK, `${name}.safetensors`);
  if (!existsSync(ckpt)) netc("train", m.example, "--quiet", "--checkpoint", ckpt, ...m.train);
  const out = join(WORK, name);
  netc("build", m.example, "--checkpoint", ckpt, "--out", out);
  const app = join(WORK, `${name}-app.mjs`);
  const input = JSON.stringify(m.rows());
  writeFileSync(
    app,
    `const t0 = performance.now();
const { load } = await import(${JSON.stringify(join(out, `${m.module}.js`))});
const t1 = performance.now();
const model = await load();
const t2 = performance.now();
const x = ${name === "mnist-cnn" ? "Uint8Array.from" : "Float32Array.from"}(${input});
const p = await model.predict({ x });
const t3 = performance.now();
await model.predict({ x });
const t4 = performance.now();
console.log(JSON.stringify({ backend: model.backend, start: t0, import: t1 - t0, load: t2 - t1, first: t3 - t2, second: t4 - t3, firstFromStart: t3, classes: p.classes }));
model.dispose();
`,
  );
  const warmCache = mkdtempSync(join(tmpdir(), "netc-mesa-warm-"));
  for (const cache of ["cold", "warm"]) {
    for (let i = 0; i < runs + (cache === "warm" ? 1 : 0); i++) {
      const dir = cache === "cold" ? mkdtempSync(join(tmpdir(), "netc-mesa-cold-")) : warmCache;
      const r = spawnSync(process.execPath, [app], { env: { ...process.env, MESA_SHADER_CACHE_DIR: dir }, encoding: "utf8" });
      if (cache === "cold") rmSync(dir, { recursive: true, force: true });
      if (r.status !== 0) throw new Error(`${name} app failed: ${r.stderr}`);
      // NOTE: the first warm run fills the cache.
      if (cache === "warm" && i === 0) continue;
      const t = JSON.parse(r.stdout.trim().split("\n").at(-1));
      emit({ system: "netc", workload: `embed-${name}-${cache}`, backend: t.backend, import_ms: t.import, load_ms: t.load, first_ms: t.first, second_ms: t.second, first_from_start_ms: t.firstFromStart });
    }
  }
  rmSync(warmCache, { recursive: true, force: true });
}

// netc/runtime for the browser: esbuild, minified, the CPU reference split into its own chunk.
const esbuild = await import("esbuild");
const outdir = join(WORK, "bundle");
rmSync(outdir, { recursive: true, force: true });
const built = await esbuild.build({
  entryPoints: [join(ROOT, "dist", "src", "runtime", "index.js")],
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  minify: true,
  outdir,
  write: false,
  metafile: true,
  logLevel: "silent",
});
for (const f of built.outputFiles) {
  const part = f.path.endsWith("index.js") ? "entry" : "chunk";
  emit({ system: "netc", workload: `runtime-bundle-${part}`, file: f.path.slice(outdir.length + 1), minified_bytes: f.contents.length, gzip_bytes: gzipSync(f.contents).length });
}

const ms = (v) => (v === undefined ? "" : v.toFixed(0).padStart(7));
console.log("\nworkload                      backend  import    load   first  second  first-from-start (ms)");
for (const r of results.filter((x) => x.workload.startsWith("embed-")))
  console.log(`${r.workload.padEnd(30)}${r.backend.padEnd(7)}${ms(r.import_ms)} ${ms(r.load_ms)} ${ms(r.first_ms)} ${ms(r.second_ms)} ${ms(r.first_from_start_ms)}`);
for (const r of results.filter((x) => x.workload.startsWith("runtime-bundle")))
  console.log(`${r.workload} ${r.file}: ${(r.minified_bytes / 1024).toFixed(1)} KB minified, ${(r.gzip_bytes / 1024).toFixed(1)} KB gzip`);

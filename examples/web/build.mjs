// The browser demo's build and server, shared by `npm run demo`, test/browser.test.ts and
// bench/browser-startup.mjs:
//   1. each model: trained with the CLI when its checkpoint is missing, then `netc build` into OUT;
//   2. esbuild bundles page.ts and every built model module as entry points with code splitting,
//      so the runtime is one shared chunk and the compiler (the training view) a chunk loaded on
//      demand; `netc/runtime` in the built modules resolves to this repository's runtime;
//   3. index.html, the `.net` sources the training view offers and models.json (what was built).
// serve() is a static file server on 127.0.0.1 (no-cache with Last-Modified, so a second load
// revalidates instead of downloading).

import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..", "..");
const HERE = import.meta.dirname;

/** The models the demo offers, by id: the example, how to train it, and how the page feeds it. */
export const MODELS = {
  clothing: { example: "mnist-cnn.net", network: "mnist_cnn", title: "Clothing (Fashion-MNIST CNN)", input: "photo", train: ["--limit", "12000", "--epochs", "1"] },
  digits: { example: "mnist-mlp.net", network: "mnist_mlp", title: "Digits (MNIST MLP)", input: "drawing", train: ["--epochs", "3"] },
  iris: { example: "iris.net", network: "iris", title: "Iris flowers", input: "table", train: ["--epochs", "150"] },
};

/** The `.net` files the training view offers. */
const TRAINABLE = ["xor.net", "xor-layers.net"];

function run(args, log) {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(process.execPath, [join(ROOT, "bin", "netc.js"), ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
      if (error) reject(new Error(`netc ${args.join(" ")} failed:\n${err || out || error.message}`));
      else resolvePromise(out);
    });
    child.stderr?.on("data", (d) => log?.(String(d).trimEnd()));
  });
}

/**
 * Builds the demo into `out`. `models` maps an id of MODELS to options: `checkpoint` (a path;
 * trained there with the CLI when missing) and `train` (extra `netc train` flags).
 */
export async function buildDemo({ out, models, log = () => {} }) {
  mkdirSync(join(out, "ckpt"), { recursive: true });
  const manifest = [];
  for (const [id, opts] of Object.entries(models)) {
    const m = MODELS[id];
    if (!m) throw new Error(`unknown demo model ${id}; known: ${Object.keys(MODELS).join(", ")}`);
    const example = join(ROOT, "examples", m.example);
    const ckpt = opts.checkpoint ?? join(out, "ckpt", `${id}.safetensors`);
    if (!existsSync(ckpt)) {
      log(`training ${m.example} (${[...(opts.train ?? m.train)].join(" ")}) -> ${ckpt}`);
      await run(["train", example, ...(opts.train ?? m.train), "--quiet", "--checkpoint", ckpt], log);
    }
    await run(["build", example, "--checkpoint", ckpt, "--out", join(out, "models"), "--batch", "1,32"], log);
    manifest.push({ id, title: m.title, input: m.input, module: `./${m.network}.js` });
  }

  const esbuild = await import("esbuild");
  const entryPoints = [join(HERE, "page.ts"), ...manifest.map((m) => join(out, "models", `${MODELS[m.id].network}.js`))];
  const result = await esbuild.build({
    entryPoints,
    outdir: out,
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    metafile: true,
    alias: { "netc/runtime": join(ROOT, "src", "runtime", "index.ts") },
    logLevel: "warning",
  });
  for (const m of manifest) copyFileSync(join(out, "models", `${MODELS[m.id].network}.safetensors`), join(out, `${MODELS[m.id].network}.safetensors`));
  mkdirSync(join(out, "nets"), { recursive: true });
  for (const f of TRAINABLE) copyFileSync(join(ROOT, "examples", f), join(out, "nets", f));
  copyFileSync(join(HERE, "index.html"), join(out, "index.html"));
  writeFileSync(join(out, "models.json"), JSON.stringify({ models: manifest, trainable: TRAINABLE }, null, 2));
  return { manifest, outputs: result.metafile.outputs };
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".map": "application/json", ".net": "text/plain; charset=utf-8", ".css": "text/css", ".gz": "application/octet-stream", ".safetensors": "application/octet-stream", ".png": "image/png" };

/**
 * Serves `root` (and each `mounts` prefix, e.g. { "/data/": "/usr/share/datasets/fashion-mnist" })
 * on 127.0.0.1; resolves to { url, close }.
 */
export function serve(root, { port = 0, mounts = {} } = {}) {
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    let base = root;
    let rel = path;
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (path.startsWith(prefix)) {
        base = dir;
        rel = path.slice(prefix.length - 1);
      }
    }
    const file = normalize(join(base, rel.endsWith("/") ? `${rel}index.html` : rel));
    if (!(file === base || file.startsWith(base.endsWith(sep) ? base : base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const modified = statSync(file).mtime.toUTCString();
    if (req.headers["if-modified-since"] === modified) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache", "last-modified": modified });
    res.end(readFileSync(file));
  });
  return new Promise((resolvePromise) =>
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      resolvePromise({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

/** Where Debian's Chromium is (NETC_CHROMIUM overrides), or undefined when it is not installed. */
export function chromiumPath() {
  const path = process.env.NETC_CHROMIUM ?? "/usr/bin/chromium";
  return existsSync(path) ? path : undefined;
}

/**
 * Launches Debian's Chromium headless through playwright-core (never a downloaded browser). WebGPU
 * needs `--enable-unsafe-webgpu` there (it then runs on Chromium's SwiftShader); without it the
 * page has no adapter. Playwright makes and deletes a fresh profile (--user-data-dir) itself.
 */
export async function launchChromium({ webgpu }) {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no /usr/bin/chromium: run `npm run setup` as root (it installs Debian's chromium), or set NETC_BROWSER_TESTS=0");
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      ...(webgpu ? ["--enable-unsafe-webgpu"] : []),
      "--no-sandbox",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

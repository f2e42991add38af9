import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { PNG } from "pngjs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemo, launchChromium, serve } from "../examples/web/build.mjs";

// netc in a real browser: Debian's Chromium (headless, driven by playwright-core; `npm run setup`
// installs it) opens the demo page (examples/web) from a server on 127.0.0.1. The page compiles
// and trains examples/xor.net on WebGPU (Chromium's SwiftShader), classifies 100 Fashion-MNIST
// test images with a CNN `netc build` made (the same classes as Node, probabilities within 1e-4),
// loads a checkpoint from a URL (its SHA-256 checked in the page), and without
// --enable-unsafe-webgpu runs on the CPU reference and says so. Any console error or page error
// fails. Screenshots go to .tmp/browser/. NETC_BROWSER_TESTS=0 skips the file.

const ROOT = join(import.meta.dirname, "..");
const OUT = join(ROOT, ".tmp", "browser");
const FASHION = "/usr/share/datasets/fashion-mnist";
const IMAGES = 100;

const enabled = process.env["NETC_BROWSER_TESTS"] !== "0";

interface Classified {
  classes: string[];
  probs: number[];
  backend: string;
  ms: number;
}

interface Ready {
  firstPredictionMs: number;
  backend: string;
  device: string;
  model: string;
}

/** The same images through the built module in a plain Node process (Dawn, or the CPU reference). */
const NODE_REFERENCE = `
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { load } from "./models/mnist_cnn.js";
const raw = gunzipSync(readFileSync(process.argv[2]));
const n = Number(process.argv[3]);
const model = await load();
const p = await model.predict({ x: raw.subarray(16, 16 + n * 784) });
console.log(JSON.stringify({ classes: p.classes, probs: Array.from(p.probs), backend: model.backend }));
model.dispose();
`;

function nodeReference(): Promise<Classified> {
  writeFileSync(join(OUT, "node-reference.mjs"), NODE_REFERENCE);
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["node-reference.mjs", join(FASHION, "t10k-images-idx3-ubyte.gz"), String(IMAGES)], { cwd: OUT, maxBuffer: 64 << 20 }, (error, out, err) =>
      error ? reject(new Error(err || error.message)) : resolve(JSON.parse(out) as Classified),
    ),
  );
}

/** A page that records every console error and page error. */
async function openPage(browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 960, height: 760 } });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url);
  return { page, problems };
}

/** Test image 0 as a photo would have it: dark on a light ground, 4× larger, in colour. */
function photoOfFirstImage(): Buffer {
  const pixels = gunzipSync(readFileSync(join(FASHION, "t10k-images-idx3-ubyte.gz"))).subarray(16, 16 + 784);
  const png = new PNG({ width: 112, height: 112 });
  for (let y = 0; y < 112; y++)
    for (let x = 0; x < 112; x++) {
      const v = 255 - pixels[Math.floor(y / 4) * 28 + Math.floor(x / 4)]!;
      png.data.set([v, v, v, 255], (y * 112 + x) * 4);
    }
  return PNG.sync.write(png);
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe.skipIf(!enabled)("netc in Chromium (the demo page)", () => {
  let site: { url: string; close(): Promise<void> } | undefined;
  let node: Classified;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    expect(existsSync(FASHION), `${FASHION}: run \`npm run setup\` (dataset-fashion-mnist)`).toBe(true);
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    // NOTE: 20 steps of 64 images: enough for a CNN whose outputs differ per image (the test
    // compares the page with Node, not accuracy), and quick on llvmpipe.
    await buildDemo({ out: OUT, models: { clothing: { train: ["--limit", "1280", "--epochs", "1"] } } });
    node = await nodeReference();
    site = await serve(OUT, { mounts: { "/data/": FASHION } });
  }, 600_000);

  afterAll(async () => {
    for (const b of browsers) await b.close();
    await site?.close();
  });

  it("on WebGPU: classifies 100 test images like Node, loads a checkpoint by URL, trains xor.net to MSE < 0.01", async () => {
    const browser = await launchChromium({ webgpu: true });
    browsers.push(browser);
    const { page, problems } = await openPage(browser, site!.url);
    const ready = await page.evaluate(() => (window as unknown as { netcDemo: { ready: Promise<Ready> } }).netcDemo.ready);
    expect(ready.backend).toBe("webgpu");
    expect(ready.device).toMatch(/swiftshader/);
    expect(await page.textContent("#backend")).toMatch(/^WebGPU on google swiftshader/);
    console.log(`[browser] WebGPU on ${ready.device}; first prediction ${ready.firstPredictionMs.toFixed(0)} ms after navigation`);

    const got = await page.evaluate(
      ([n]) => (window as unknown as { netcDemo: { classifyIdx(m: string, u: string, n: number): Promise<Classified> } }).netcDemo.classifyIdx("clothing", "data/t10k-images-idx3-ubyte.gz", n!),
      [IMAGES],
    );
    expect(got.backend).toBe("webgpu");
    expect(got.classes).toEqual(node.classes);
    const diff = maxDiff(got.probs, node.probs);
    console.log(`[browser] CNN, ${IMAGES} images: page (WebGPU) vs Node (${node.backend}): same classes, max |Δp| ${diff.toExponential(2)}; ${got.ms.toFixed(1)} ms in the page`);
    expect(diff).toBeLessThan(1e-4);
    await page.screenshot({ path: join(OUT, "classify-webgpu.png") });

    // A person's way in: a photo through the file input gives three bars, the first Node's class for that image.
    await page.evaluate(() => document.getElementById("top3")!.replaceChildren());
    await page.setInputFiles("#file", { name: "shoe.png", mimeType: "image/png", buffer: photoOfFirstImage() });
    await page.waitForFunction(() => document.querySelectorAll("#top3 .bar").length === 3 && /ms per prediction on WebGPU$/.test(document.getElementById("timing")!.textContent ?? ""));
    expect(await page.textContent("#top3 .bar .name")).toBe(node.classes[0]);
    await page.screenshot({ path: join(OUT, "photo-webgpu.png") });

    const ckpt = await page.evaluate(() => (window as unknown as { netcDemo: { checkpointInfo(u: string): Promise<{ network: string; step: number; tensors: number }> } }).netcDemo.checkpointInfo("ckpt/clothing.safetensors"));
    expect(ckpt).toMatchObject({ network: "mnist_cnn", step: 20 });

    const trained = await page.evaluate(() => (window as unknown as { netcDemo: { train(f: string): Promise<{ backend: string; loss: number; steps: number; seconds: number; compileMs: number }> } }).netcDemo.train("xor.net"));
    console.log(`[browser] xor.net in the page: compiled in ${trained.compileMs.toFixed(0)} ms, ${trained.steps} steps on ${trained.backend} in ${trained.seconds.toFixed(2)} s, loss ${trained.loss.toExponential(2)}`);
    expect(trained.backend).toBe("webgpu");
    expect(trained.steps).toBe(2000);
    expect(trained.loss).toBeLessThan(0.01);
    expect(await page.textContent("#trainStatus")).toMatch(/^done: 2000 steps/);
    await page.screenshot({ path: join(OUT, "train-webgpu.png") });

    // The stop button ends a run midway.
    await page.click("#start");
    await page.waitForFunction(() => /^step \d+ of 2000/.test(document.getElementById("trainStatus")!.textContent ?? ""));
    await page.click("#stop");
    await page.waitForFunction(() => /^(stopped|done): /.test(document.getElementById("trainStatus")!.textContent ?? ""));
    expect(await page.textContent("#trainStatus")).toMatch(/^stopped: \d+ steps/);
    expect(problems).toEqual([]);
  });

  it("without --enable-unsafe-webgpu: runs on the CPU reference, says so, and classifies like Node", async () => {
    const browser = await launchChromium({ webgpu: false });
    browsers.push(browser);
    const { page, problems } = await openPage(browser, site!.url);
    const ready = await page.evaluate(() => (window as unknown as { netcDemo: { ready: Promise<Ready> } }).netcDemo.ready);
    expect(ready.backend).toBe("cpu");
    expect(await page.textContent("#backend")).toMatch(/^CPU reference \(no WebGPU: the browser offered no WebGPU adapter/);
    const got = await page.evaluate(
      ([n]) => (window as unknown as { netcDemo: { classifyIdx(m: string, u: string, n: number): Promise<Classified> } }).netcDemo.classifyIdx("clothing", "data/t10k-images-idx3-ubyte.gz", n!),
      [IMAGES],
    );
    expect(got.backend).toBe("cpu");
    expect(got.classes).toEqual(node.classes);
    const diff = maxDiff(got.probs, node.probs);
    console.log(`[browser] CNN, ${IMAGES} images: page (CPU reference) vs Node (${node.backend}): same classes, max |Δp| ${diff.toExponential(2)}; ${got.ms.toFixed(1)} ms in the page`);
    expect(diff).toBeLessThan(1e-4);
    await page.screenshot({ path: join(OUT, "classify-cpu.png") });
    expect(problems).toEqual([]);
  });
});

/**
 * netc's browser demo. Classify: draw a digit or drop a clothing photo and see the top three
 * classes of a model `netc build` made, the backend and the time per prediction. Train: a `.net`
 * file compiled and trained in the page, with a live loss curve and a stop button.
 *
 * Start-up: the manifest, the device and the first model load together; `load()` creates every
 * pipeline of the batch-1 kernels in parallel, then one prediction on a blank input warms the path,
 * and the time from navigation to that first prediction is shown (and kept for the benchmark).
 * `window.netcDemo` is what test/browser.test.ts and bench/browser-startup.mjs drive.
 */
import { acquireGpu, type GpuContext, type LoadOptions, type LoadStage, type Model, type ModelDescription } from "../../src/runtime/index.js";

interface BuiltModule {
  model: ModelDescription;
  classNames: readonly string[];
  load(options?: LoadOptions): Promise<Model>;
}

interface ManifestModel {
  id: string;
  title: string;
  input: "photo" | "drawing" | "table";
  module: string;
}

interface Manifest {
  models: ManifestModel[];
  trainable: string[];
}

/** What a prediction gave: the top classes with probabilities, and its time. */
interface Shown {
  top: { name: string; prob: number }[];
  ms: number;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

let gpu: GpuContext | undefined;
let noGpuReason = "";
const loaded = new Map<string, Promise<{ model: Model; module: BuiltModule }>>();
let current: ManifestModel | undefined;

function setBackend(): void {
  const el = $("backend");
  if (gpu) {
    el.textContent = `WebGPU on ${gpu.adapterName}`;
    el.className = "webgpu";
  } else {
    el.textContent = `CPU reference (no WebGPU: ${noGpuReason})`;
    el.className = "cpu";
  }
}

function progress(text: string): void {
  $("progress").textContent = text;
}

function describeStage(title: string, s: LoadStage): string {
  if (s.stage === "fetching") return `${title}: fetching ${s.what}…`;
  if (s.stage === "pipelines") return s.backend === "webgpu" ? `${title}: creating ${s.kernels} compute pipelines in parallel…` : `${title}: preparing the CPU reference…`;
  return `${title}: loaded in ${s.ms.toFixed(0)} ms`;
}

function modelOf(m: ManifestModel): Promise<{ model: Model; module: BuiltModule }> {
  let got = loaded.get(m.id);
  if (!got) {
    got = (async () => {
      const module = (await import(/* @vite-ignore */ new URL(m.module, location.href).href)) as BuiltModule;
      const model = await module.load({ ...(gpu ? { gpu } : { backend: "cpu" }), onProgress: (s) => progress(describeStage(m.title, s)) });
      return { model, module };
    })();
    loaded.set(m.id, got);
  }
  return got;
}

/** Runs the model on rows of its input and returns the top three of each row. */
async function predictRows(m: ManifestModel, data: Uint8Array | Float32Array): Promise<{ classes: string[]; probs: Float32Array; ms: number; width: number }> {
  const { model, module } = await modelOf(m);
  const input = module.model.plan.inputs[0]!;
  const output = module.model.classes?.output ?? module.model.plan.outputs[0]!.name;
  const t0 = performance.now();
  const got = await model.predict({ [input.name]: data });
  const ms = performance.now() - t0;
  const probs = got[output]!;
  const rows = got.classes?.length ?? 1;
  return { classes: got.classes ?? [], probs, ms, width: probs.length / rows };
}

function topThree(probs: Float32Array, names: readonly string[]): { name: string; prob: number }[] {
  return Array.from(probs, (prob, i) => ({ name: names[i] ?? String(i), prob }))
    .sort((a, b) => b.prob - a.prob)
    .slice(0, 3);
}

function show(result: Shown): void {
  const box = $("top3");
  box.replaceChildren(
    ...result.top.map(({ name, prob }) => {
      const row = document.createElement("div");
      row.className = "bar";
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${Math.max(1, prob * 240).toFixed(0)}px`;
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${(prob * 100).toFixed(1)}%`;
      row.append(label, fill, pct);
      return row;
    }),
  );
  $("timing").textContent = `${result.ms.toFixed(1)} ms per prediction on ${gpu ? "WebGPU" : "the CPU reference"}`;
}

async function classifyBytes(bytes: Uint8Array | Float32Array): Promise<void> {
  if (!current) return;
  const { module } = await modelOf(current);
  const r = await predictRows(current, bytes);
  show({ top: topThree(r.probs, module.classNames), ms: r.ms });
}

// ------------------------------------------------------------------ drawing and photos

const pad = () => $<HTMLCanvasElement>("pad");
const preview = () => $<HTMLCanvasElement>("preview");

function clearPad(): void {
  const ctx = pad().getContext("2d")!;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, 280, 280);
}

/** The drawing as MNIST has digits: the ink's box scaled into 20×20, centred in 28×28. */
function drawingBytes(): Uint8Array | undefined {
  const src = pad().getContext("2d")!.getImageData(0, 0, 280, 280).data;
  let [x0, y0, x1, y1] = [280, 280, -1, -1];
  for (let y = 0; y < 280; y++)
    for (let x = 0; x < 280; x++)
      if (src[(y * 280 + x) * 4]! > 32) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  if (x1 < 0) return undefined;
  const side = Math.max(x1 - x0, y1 - y0) + 1;
  const out = preview().getContext("2d")!;
  out.fillStyle = "#000";
  out.fillRect(0, 0, 28, 28);
  out.imageSmoothingQuality = "high";
  const s = 20 / side;
  out.drawImage(pad(), x0, y0, x1 - x0 + 1, y1 - y0 + 1, 14 - ((x1 - x0 + 1) * s) / 2, 14 - ((y1 - y0 + 1) * s) / 2, (x1 - x0 + 1) * s, (y1 - y0 + 1) * s);
  return greyBytes(out.getImageData(0, 0, 28, 28).data, false);
}

/** A photo as Fashion-MNIST has clothes: fitted into 28×28, grey, light object on a dark ground. */
async function photoBytes(file: Blob): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(file);
  const out = preview().getContext("2d")!;
  const s = 28 / Math.max(bitmap.width, bitmap.height);
  const [w, h] = [bitmap.width * s, bitmap.height * s];
  out.fillStyle = "#fff";
  out.fillRect(0, 0, 28, 28);
  out.drawImage(bitmap, (28 - w) / 2, (28 - h) / 2, w, h);
  const rgba = out.getImageData(0, 0, 28, 28).data;
  // NOTE: photos are mostly dark things on light ground; Fashion-MNIST is the reverse.
  let border = 0;
  for (let i = 0; i < 28; i++) border += rgba[i * 4]! + rgba[(27 * 28 + i) * 4]! + rgba[i * 28 * 4]! + rgba[(i * 28 + 27) * 4]!;
  const bytes = greyBytes(rgba, border / (4 * 28) > 127);
  const img = out.createImageData(28, 28);
  bytes.forEach((v, i) => img.data.set([v, v, v, 255], i * 4));
  out.putImageData(img, 0, 0);
  return bytes;
}

function greyBytes(rgba: Uint8ClampedArray, invert: boolean): Uint8Array {
  const out = new Uint8Array(28 * 28);
  for (let i = 0; i < out.length; i++) {
    const g = Math.round(0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!);
    out[i] = invert ? 255 - g : g;
  }
  return out;
}

function wireDrawing(): void {
  clearPad();
  const canvas = pad();
  let drawing = false;
  let last: [number, number] | undefined;
  const at = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * 280) / r.width, ((e.clientY - r.top) * 280) / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    last = at(e);
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing || !last) return;
    const p = at(e);
    const ctx = canvas.getContext("2d")!;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    const bytes = drawingBytes();
    if (bytes) void classifyBytes(bytes).catch(fail);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointerleave", end);
  $("clear").addEventListener("click", () => {
    clearPad();
    $("top3").replaceChildren();
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer?.files[0];
    if (file) void photoBytes(file).then(classifyBytes).catch(fail);
  });
  $<HTMLInputElement>("file").addEventListener("change", (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void photoBytes(file).then(classifyBytes).catch(fail);
  });
  $("predictTable").addEventListener("click", () => {
    const values = $<HTMLInputElement>("features").value.split(/[\s,]+/).filter(Boolean).map(Number);
    void classifyBytes(Float32Array.from(values)).catch(fail);
  });
}

function selectModel(m: ManifestModel): void {
  current = m;
  $("drawing").style.display = m.input === "drawing" ? "" : "none";
  $("photo").style.display = m.input === "photo" ? "" : "none";
  $("table").style.display = m.input === "table" ? "" : "none";
  $("top3").replaceChildren();
  $("timing").textContent = "";
}

function fail(e: unknown): void {
  console.error(e);
  progress(`error: ${e instanceof Error ? e.message : String(e)}`);
}

// ------------------------------------------------------------------ training

interface TrainOutcome {
  backend: string;
  loss: number | undefined;
  steps: number;
  seconds: number;
  stopped: boolean;
  compileMs: number;
}

let stopper: AbortController | undefined;

/** Compiles the text and trains it on this page's device (or the CPU reference), drawing the loss. */
async function train(text: string, file: string): Promise<TrainOutcome> {
  const status = $("trainStatus");
  const errorBox = $("trainError");
  errorBox.textContent = "";
  status.textContent = "loading the compiler…";
  // NOTE: the compiler is its own chunk: the classify view never downloads it.
  const netc = await import("../../src/index.js");
  const t0 = performance.now();
  const c = netc.compile(text, file);
  const compileMs = performance.now() - t0;
  if (c.diagnostics.hasErrors || !c.graph || !c.train) {
    errorBox.textContent = c.diagnostics.hasErrors ? c.diagnostics.render() : `${file} has no train section`;
    throw new Error(`${file} does not compile`);
  }
  const spec = c.train;
  const data = await netc.prepareData(spec, c.graph, { seed: spec.seed });
  const backend = gpu ? netc.webgpuBackend(gpu) : netc.cpuBackend();
  // NOTE: a point of the curve is a read of the loss: every 10 steps, and every epoch in a hundredth of the run.
  const logEvery = Math.max(1, Math.floor(spec.epochs / 100));
  const trainer = await netc.Trainer.create({ backend, plan: netc.planOf(c.graph, { train: spec }), spec, data, readEvery: 10, logEvery });
  const points: [number, number][] = [];
  const curve = $<HTMLCanvasElement>("curve");
  stopper = new AbortController();
  $<HTMLButtonElement>("stop").disabled = false;
  $<HTMLButtonElement>("start").disabled = true;
  let lastLoss: number | undefined;
  try {
    const result = await trainer.run({
      signal: stopper.signal,
      yieldAfterRead: () => new Promise((r) => setTimeout(r, 0)),
      onStep: (p) => {
        if (!p.read || p.loss === undefined) return;
        lastLoss = p.loss;
        points.push([p.done, p.loss]);
        drawCurve(curve, points, p.planned);
        status.textContent = `step ${p.done} of ${p.planned} (epoch ${p.epoch}), loss ${p.loss.toPrecision(4)}, compiled in ${compileMs.toFixed(0)} ms, on ${backend.kind === "webgpu" ? "WebGPU" : "the CPU reference"}`;
      },
    });
    const final = result.history.at(-1)?.loss ?? lastLoss;
    status.textContent = `${result.stopped ? "stopped" : "done"}: ${result.steps} steps in ${result.seconds.toFixed(2)} s, loss ${final?.toPrecision(4) ?? "?"} on ${backend.kind === "webgpu" ? "WebGPU" : "the CPU reference"}`;
    return { backend: backend.kind, loss: result.stopped ? lastLoss : final, steps: result.steps, seconds: result.seconds, stopped: result.stopped === true, compileMs };
  } finally {
    trainer.dispose();
    $<HTMLButtonElement>("stop").disabled = true;
    $<HTMLButtonElement>("start").disabled = false;
  }
}

function drawCurve(canvas: HTMLCanvasElement, points: [number, number][], planned: number): void {
  const ctx = canvas.getContext("2d")!;
  const [w, h, m] = [canvas.width, canvas.height, 34];
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(...points.map((p) => p[1]), 1e-9);
  ctx.strokeStyle = "#999";
  ctx.strokeRect(m, 8, w - m - 8, h - m - 8);
  ctx.fillStyle = "#333";
  ctx.font = "11px system-ui";
  ctx.fillText(max.toPrecision(3), 2, 16);
  ctx.fillText("0", 2, h - m);
  ctx.fillText(`step ${planned}`, w - 60, h - 12);
  ctx.fillText("loss", 2, h / 2);
  ctx.strokeStyle = "#2456a6";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach(([x, y], i) => {
    const px = m + ((w - m - 8) * x) / Math.max(1, planned);
    const py = h - m - ((h - m - 8) * y) / max;
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  });
  ctx.stroke();
}

// ------------------------------------------------------------------ start-up

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

async function start(): Promise<{ firstPredictionMs: number; backend: string; device: string; model: string }> {
  const [manifest, got] = await Promise.all([fetchText("models.json").then((t) => JSON.parse(t) as Manifest), acquireGpu()]);
  if (got.ok) gpu = got.gpu;
  else noGpuReason = got.reason;
  setBackend();

  const select = $<HTMLSelectElement>("model");
  for (const m of manifest.models) select.add(new Option(m.title, m.id));
  const first = manifest.models.find((m) => m.id === params.get("model")) ?? manifest.models[0];
  if (!first) throw new Error("models.json lists no model");
  select.value = first.id;
  select.addEventListener("change", () => selectModel(manifest.models.find((m) => m.id === select.value)!));
  selectModel(first);
  wireDrawing();

  const nets = $<HTMLSelectElement>("net");
  for (const f of manifest.trainable) nets.add(new Option(f, f));
  const loadNet = async () => {
    $<HTMLTextAreaElement>("source").value = await fetchText(`nets/${nets.value}`);
  };
  nets.addEventListener("change", () => void loadNet().catch(fail));
  void loadNet().catch(fail);
  $("start").addEventListener("click", () => void train($<HTMLTextAreaElement>("source").value, nets.value).catch(fail));
  $("stop").addEventListener("click", () => stopper?.abort());
  for (const [tab, id] of [["tabClassify", "classify"], ["tabTrain", "train"]] as const)
    $(tab).addEventListener("click", () => {
      for (const t of ["tabClassify", "tabTrain"]) $(t).classList.toggle("on", t === tab);
      for (const s of ["classify", "train"]) $(s).classList.toggle("on", s === id);
    });

  // The first prediction, on a blank input: it runs every kernel once, so a person's first one is fast.
  const { module } = await modelOf(first);
  const width = module.model.plan.inputs[0]!.shape.slice(1).reduce<number>((a, d) => a * (typeof d === "number" ? d : 1), 1);
  await predictRows(first, first.input === "table" ? new Float32Array(width) : new Uint8Array(width));
  const firstPredictionMs = performance.now();
  progress(`${first.title}: ready; first prediction ${(firstPredictionMs / 1000).toFixed(2)} s after navigation`);
  const { model } = await modelOf(first);
  return { firstPredictionMs, backend: model.backend, device: model.device, model: first.id };
}

/** The page's API for tests and benchmarks. */
const demo = {
  ready: start(),
  /** Classifies `count` images of an IDX file (gzipped or not) with a model; the probabilities flat. */
  async classifyIdx(modelId: string, url: string, count: number): Promise<{ classes: string[]; probs: number[]; backend: string; ms: number }> {
    await demo.ready;
    const m = (JSON.parse(await fetchText("models.json")) as Manifest).models.find((x) => x.id === modelId);
    if (!m) throw new Error(`no model ${modelId}`);
    const netc = await import("../../src/index.js");
    const images = await netc.fetchIdx(url, { rank: 3, dtype: "u8" });
    const width = images.shape[1]! * images.shape[2]!;
    const bytes = Uint8Array.from(images.values.subarray(0, count * width));
    const r = await predictRows(m, bytes);
    const { model, module } = await modelOf(m);
    show({ top: topThree(r.probs.subarray(0, r.width), module.classNames), ms: r.ms / count });
    return { classes: r.classes, probs: Array.from(r.probs), backend: model.backend, ms: r.ms };
  },
  /** Loads a checkpoint from a URL in the page (its checksum verified here) and names its network and step. */
  async checkpointInfo(url: string): Promise<{ network: string; step: number; tensors: number }> {
    const netc = await import("../../src/index.js");
    const c = await netc.loadCheckpoint(url);
    return { network: c.meta.network, step: c.meta.step, tensors: Object.keys(c.tensors).length };
  },
  /** Trains one of the offered `.net` files in the training view. */
  async train(file: string): Promise<TrainOutcome> {
    await demo.ready;
    $("tabTrain").click();
    const nets = $<HTMLSelectElement>("net");
    nets.value = file;
    const text = await fetchText(`nets/${file}`);
    $<HTMLTextAreaElement>("source").value = text;
    return train(text, file);
  },
};
demo.ready.catch(fail);
(window as unknown as { netcDemo: typeof demo }).netcDemo = demo;

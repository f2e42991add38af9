import { NetcError } from "../base/errors.js";
import type { Value } from "../ir/graph.js";
import type { StoredTensor } from "../runtime/checkpoint.js";
import { FUNCTIONS } from "../frontend/functions.js";
import { OnnxImportError } from "./node-context.js";
import { importModel, parseModelBytes } from "./importer.js";
import { layerFindingHandlers } from "./net-layers.js";
import { writeNetwork } from "./net-writer.js";
import { ONNX_OPS } from "./ops/index.js";
import { isInteger } from "./tensor.js";

/**
 * `netc import`: an ONNX model becomes a `.net` file and its weights, which netc compiles, runs,
 * exports and trains like any network of its own.
 *
 * 1. Every node's op must have a handler (src/onnx/ops/, the conformance importer's); the ones
 *    without are listed together, by op and node, in one error.
 * 2. Symbolic input dims (the batch) are bound to sentinel sizes no tensor of the model has, and
 *    the model is imported to IR with handlers that also note layers (net-layers.ts).
 * 3. The IR is written back as `.net` (net-writer.ts): layers where a pattern maps to one,
 *    primitives otherwise, every constant a param whose values go to the weights.
 * Anything with no `.net` form is listed, with its node, in one error.
 */

/** The result of importing a model. */
export interface NetImport {
  /** The `.net` source. */
  source: string;
  network: string;
  /** netc's params and state (batchnorm statistics) by name, in netc's layout. */
  tensors: Record<string, StoredTensor>;
  /** The layers written (`fc1: dense`), and the ONNX ops of the model. */
  layers: string[];
  ops: string[];
}

/** A model `netc import` cannot write as `.net`, with every reason. */
export class OnnxImportUnsupported extends NetcError {
  constructor(
    file: string,
    readonly problems: string[],
  ) {
    super(`cannot import ${file}: ${problems.join("; ")}`);
    this.name = "OnnxImportUnsupported";
  }
}

const PRIMES = [7919, 7927, 7933, 7937, 7949, 7951, 7963, 7993, 8009, 8011];

/** An identifier for the network from the graph's name or the file's. */
function networkName(raw: string): string {
  let n = raw.replace(/[^A-Za-z0-9_]/g, "_").replace(/^_+/, "");
  if (!/^[A-Za-z]/.test(n)) n = `model_${n}`;
  return n;
}

/** Imports an ONNX model's bytes as `.net` source and netc weights. */
export function onnxToNet(bytes: Uint8Array, file: string, opts: { network?: string } = {}): NetImport {
  let model;
  try {
    model = parseModelBytes(bytes, file);
  } catch (e) {
    if (e instanceof OnnxImportError) throw new NetcError(e.message);
    throw e;
  }
  const g = model.graph!;
  const missing: string[] = [];
  (g.node ?? []).forEach((n, i) => {
    const op = n.opType ?? "";
    const where = n.name ? `"${n.name}"` : `#${i}`;
    if (n.domain && n.domain !== "ai.onnx") missing.push(`${op} (node ${where}, domain ${n.domain})`);
    else if (!ONNX_OPS[op]) missing.push(`${op} (node ${where})`);
  });
  if (missing.length) throw new OnnxImportUnsupported(file, [`unsupported ops: ${missing.join(", ")}`]);

  // Sentinel sizes for symbolic dims: primes no initializer or declared dim has.
  const taken = new Set<number>();
  for (const t of g.initializer ?? []) for (const d of t.dims ?? []) taken.add(Number(d));
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const symbols = new Map<number, string>();
  const dims: Record<string, number> = {};
  const free = PRIMES.filter((p) => !taken.has(p));
  for (const vi of g.input ?? []) {
    if (inits.has(vi.name)) continue;
    for (const d of vi.type?.tensorType?.shape?.dim ?? []) {
      if (d.dimValue !== undefined) taken.add(Number(d.dimValue));
      else if (d.dimParam !== undefined && !(d.dimParam in dims)) {
        const p = free.shift();
        if (p === undefined) throw new OnnxImportUnsupported(file, ["more than 10 symbolic dims"]);
        dims[d.dimParam] = p;
        symbols.set(p, /^[A-Za-z_][A-Za-z0-9_]*$/.test(d.dimParam) ? d.dimParam : `D${symbols.size}`);
      } else throw new OnnxImportUnsupported(file, [`input ${vi.name} has a dim with neither a size nor a name`]);
    }
  }

  const { handlers, finds } = layerFindingHandlers();
  let imported;
  try {
    imported = importModel(model, handlers, { file, dims, keepInitializers: true });
  } catch (e) {
    if (e instanceof OnnxImportError) throw e.kind === "invalid" ? new NetcError(`${file}: ${e.message}`) : new OnnxImportUnsupported(file, [e.message]);
    throw e;
  }
  const constants = new Map<Value, Float32Array>();
  for (const a of imported.graph.args) if (a.arg!.role === "param") constants.set(a, imported.constants[a.arg!.name]!);
  const inputs = imported.inputs.map((i) => {
    if (i.dtype === "bool" || (!isInteger(i.dtype) && !/^float/.test(i.dtype))) throw new OnnxImportUnsupported(file, [`input ${i.name} is ${i.dtype}`]);
    return { name: i.name, value: i.arg, dtype: isInteger(i.dtype) ? ("i32" as const) : ("f32" as const) };
  });
  const network = opts.network ?? networkName(g.name || file.replace(/^.*\//, "").replace(/\.onnx$/, ""));
  const written = writeNetwork(
    {
      network,
      inputs,
      outputs: imported.outputs.map((o) => ({ name: o.name, value: o.value })),
      constants,
      initializerOf: (arg) => imported.initializerOf[arg.arg!.name],
      layers: finds.layers,
      names: finds.names,
      tensorName: (layer) => (layer.namedBy ? imported.initializerNames.get(layer.namedBy) : undefined),
      symbols,
      origin: (v) => finds.origins.get(v) ?? "the graph",
    },
    [...Object.keys(FUNCTIONS), network],
  );
  if (written.unsupported.length) throw new OnnxImportUnsupported(file, [...new Set(written.unsupported)]);

  const tensors: Record<string, StoredTensor> = {};
  for (const p of written.params) tensors[p.name] = { shape: p.dims, values: Float32Array.from(p.data) };
  const producer = [model.producerName, model.producerVersion].filter(Boolean).join(" ");
  const source = [
    `# Imported by \`netc import\` from ${file.replace(/^.*\//, "")} (ONNX opset ${imported.opset}${producer ? `, written by ${producer}` : ""}).`,
    `# Layers where an ONNX pattern maps to one, primitives otherwise; the weights file holds every param.`,
    "",
    `network ${network} {`,
    ...written.lines,
    "}",
    "",
    "# To train or fine-tune (netc train FILE --init WEIGHTS), add a training section, e.g.:",
    "# train {",
    `#   loss = mse(${imported.outputs[0]?.name ?? "y"}, target)   # target: a data column`,
    "#   optimizer = adam(lr = 0.001)",
    "#   epochs = 5",
    "#   data { ... }",
    "# }",
    "",
  ].join("\n");
  // Layers in the order the source shows them.
  const at = (l: string) => source.indexOf(`${l.split(":")[0]}: `);
  const layers = [...written.layers].sort((a, b) => at(a) - at(b));
  return { source, network, tensors, layers, ops: imported.ops };
}

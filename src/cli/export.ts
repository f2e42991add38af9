import { writeFileSync } from "node:fs";
import type { Dim } from "../ir/types.js";
import type { InputTransform } from "../runtime/data-source.js";
import { ELEM } from "../onnx/export-graph.js";
import { exportOnnx, OnnxExportError, OPSET, type ExportedTensor } from "../onnx/export.js";
import { loadInference, metaJson } from "./backend.js";
import { parseArgs, UsageError } from "./io.js";

const USAGE =
  "usage: netc export FILE --checkpoint CKPT --onnx OUT.onnx [--include-transform]\n" +
  "  writes the inference graph (dropout off, batchnorm on running statistics) with the checkpoint's\n" +
  "  weights as an ONNX model (opset 17; the batch dim symbolic) for ONNX Runtime and other servers;\n" +
  "  --include-transform: build the input transform training used (standardised features, bytes / 255)\n" +
  "  into the model, so it takes raw inputs as `netc run` does";

const ELEM_NAMES: Record<number, string> = { [ELEM.FLOAT]: "float32", [ELEM.INT32]: "int32", [ELEM.BOOL]: "bool", [ELEM.FLOAT16]: "float16" };

/** `x float32[B, 4]` */
function describe(t: ExportedTensor): string {
  return `${t.name} ${ELEM_NAMES[t.elem] ?? `type ${t.elem}`}[${t.shape.map((d: Dim) => String(d)).join(", ")}]`;
}

/** What an input transform asks of a model's callers, for the note printed when it is left out. */
function transformNote(t: Exclude<InputTransform, { kind: "none" }>): string {
  return t.kind === "unit"
    ? "training scaled raw bytes to [0, 1]: feed the model pixels divided by 255"
    : "training standardised each input feature: feed the model (x - mean) / std with the mean and std in its metadata (netc.input_transform)";
}

/**
 * `netc export FILE --checkpoint CKPT --onnx OUT.onnx [--include-transform]`: compiles the network
 * for inference, checks the checkpoint against it, and writes the ONNX model: inputs and outputs
 * named as in the source, the params and batchnorm statistics as initializers, and the
 * checkpoint's facts (network, epoch, input transform, class names) as metadata.
 */
export async function exportCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { checkpoint: "string", onnx: "string", "include-transform": "boolean", help: "boolean" });
  if (options["help"] === true) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  const outPath = options["onnx"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined || outPath === undefined) throw new UsageError(USAGE);

  const { graph: g, ckpt, values } = loadInference(file, ckptPath);
  const stored = metaJson<InputTransform>(ckpt, "transform") ?? { kind: "none" };
  const transform = stored.kind === "none" ? undefined : stored;
  const include = options["include-transform"] === true;
  if (include && !transform) throw new UsageError(`${ckptPath} records no input transform: training fed ${g.name} its inputs as they are, so there is nothing to include`);

  const metadata: Record<string, string> = {
    "netc.network": g.name,
    "netc.source": file,
    "netc.checkpoint": `epoch ${ckpt.meta.epoch}, step ${ckpt.meta.step}`,
  };
  if (transform) metadata["netc.input_transform"] = JSON.stringify({ ...transform, included: include });
  const classNames = ckpt.meta.extra?.["class_names"];
  if (classNames) metadata["netc.class_names"] = classNames;

  let exported;
  try {
    exported = exportOnnx(g, {
      values,
      metadata,
      inputTransform: include ? transform : undefined,
      docString: `${g.name} from ${file}, exported by netc with the weights of ${ckptPath}`,
    });
  } catch (e) {
    if (e instanceof OnnxExportError) throw new UsageError(`cannot export ${file} to ONNX: ${e.problems.join("; ")}`);
    throw e;
  }
  try {
    writeFileSync(outPath, exported.bytes);
  } catch (e) {
    throw new UsageError(`cannot write ${outPath}: ${(e as Error).message}`);
  }
  const graph = exported.model.graph!;
  const kb = (exported.bytes.length / 1024).toFixed(1);
  const out = (line: string) => process.stdout.write(line + "\n");
  out(`netc: wrote ${outPath} (ONNX opset ${OPSET}, ${graph.node!.length} nodes, ${graph.initializer!.length} initializers, ${kb} KiB)`);
  out(`inputs: ${exported.inputs.map(describe).join(", ")}`);
  out(`outputs: ${exported.outputs.map(describe).join(", ")}`);
  if (transform && include) out(`input transform: ${transform.kind} (included: the model takes raw inputs)`);
  if (transform && !include) process.stderr.write(`netc: note: ${transformNote(transform)}; or export with --include-transform\n`);
  return 0;
}

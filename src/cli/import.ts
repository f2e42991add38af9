import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { NetcError } from "../base/errors.js";
import { compile } from "../compile.js";
import { onnxToNet } from "../onnx/to-net.js";
import { encodeCheckpoint } from "../runtime/checkpoint.js";
import { parseArgs, UsageError } from "./io.js";

const USAGE =
  "usage: netc import MODEL.onnx [--out DIR] [--name NETWORK]\n" +
  "  writes DIR/NAME.net (layers where an ONNX pattern maps to one, primitives otherwise) and\n" +
  "  DIR/NAME.safetensors (its weights, a netc checkpoint: run, eval and export take it with\n" +
  "  --checkpoint, train with --init); unsupported ops are listed by op and node";

/**
 * `netc import MODEL.onnx [--out DIR] [--name NETWORK]`: an ONNX model as a `.net` file and a
 * weights file. The written file is compiled before anything is written, so what netc writes, netc reads.
 */
export async function importCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { out: "string", name: "string", help: "boolean" });
  if (options["help"] === true) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const file = positional[0];
  if (!file || positional.length > 1) throw new UsageError(USAGE);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const name = options["name"] as string | undefined;
  if (name !== undefined && !/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--name must be an identifier (letters, digits, _), got ${name}`);
  let imported;
  try {
    imported = onnxToNet(bytes, file, { network: name });
  } catch (e) {
    if (e instanceof NetcError) throw new UsageError(e.message);
    throw e;
  }
  const stem = basename(file).replace(/\.onnx$/i, "");
  const dir = (options["out"] as string | undefined) ?? ".";
  const netPath = join(dir, `${stem}.net`);
  const weightsPath = join(dir, `${stem}.safetensors`);
  // NOTE: a file netc cannot compile is a netc bug, not the user's: check before writing.
  const c = compile(imported.source, netPath, { mode: "infer" });
  if (!c.graph) throw new Error(`internal: netc import wrote a network that does not compile:\n${c.diagnostics.render()}\n${imported.source}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(netPath, imported.source);
    writeFileSync(weightsPath, encodeCheckpoint({ tensors: imported.tensors, meta: { network: imported.network, epoch: 0, step: 0, seed: 0, extra: { source: netPath, imported_from: file } } }));
  } catch (e) {
    throw new UsageError(`cannot write to ${dir}: ${(e as Error).message}`);
  }
  const count = Object.values(imported.tensors).reduce((a, t) => a + t.values.length, 0);
  process.stdout.write(
    `netc: ${file} (${imported.ops.join(", ")}) -> ${netPath} (network ${imported.network}${imported.layers.length ? `; layers ${imported.layers.join(", ")}` : ""}) and ${weightsPath} (${Object.keys(imported.tensors).length} tensors, ${count} values)\n`,
  );
  return 0;
}

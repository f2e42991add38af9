import type { Handler } from "../node-context.js";
import { ATTENTION_OPS } from "./attention.js";
import { ELEMENTWISE } from "./elementwise.js";
import { NN_OPS } from "./nn.js";
import { RECURRENT_OPS } from "./recurrent.js";
import { SHAPE_OPS } from "./shape.js";

/** Every ONNX op type the importer maps, by name (default domain). */
export const ONNX_OPS: Record<string, Handler> = {
  ...ELEMENTWISE,
  ...SHAPE_OPS,
  ...NN_OPS,
  ...RECURRENT_OPS,
  ...ATTENTION_OPS,
};

import { CONV_GRAD_OPS } from "./conv-grad.js";
import { CONV_OPS } from "./conv.js";
import { ELEMENTWISE_OPS } from "./elementwise.js";
import { GATHER_OPS } from "./gather.js";
import { MATMUL_OPS } from "./matmul.js";
import { MOVEMENT_OPS } from "./movement.js";
import { POOL_OPS } from "./pool.js";
import { REDUCE_OPS } from "./reduce.js";
import { SOURCE_OPS } from "./source.js";
import type { OpDef, OpFamily, OpName } from "./types.js";

/**
 * The op registry: every primitive is declared once, in its family's file, with its shape rule,
 * gradient rule, CPU reference semantics and WGSL lowering side by side in one object literal.
 * Passes, the CPU interpreter and codegen look ops up by name here.
 */

/** The families whose entries OPS merges (test/ops.test.ts checks no name is in two of them). */
export const FAMILIES: readonly OpFamily[] = [SOURCE_OPS, ELEMENTWISE_OPS, REDUCE_OPS, MATMUL_OPS, MOVEMENT_OPS, CONV_OPS, CONV_GRAD_OPS, POOL_OPS, GATHER_OPS];

/**
 * Every primitive op, by name. `satisfies` makes tsc refuse a name of OP_NAMES without an entry;
 * each family's own `satisfies OpFamily` refuses an entry whose name is not in OP_NAMES.
 */
export const OPS = {
  ...SOURCE_OPS,
  ...ELEMENTWISE_OPS,
  ...REDUCE_OPS,
  ...MATMUL_OPS,
  ...MOVEMENT_OPS,
  ...CONV_OPS,
  ...CONV_GRAD_OPS,
  ...POOL_OPS,
  ...GATHER_OPS,
} satisfies Record<OpName, OpDef>;

export type { OpName } from "./types.js";

// NOTE: a Map, not a property lookup on OPS: passes ask for ops millions of times on large graphs.
const OP_TABLE: ReadonlyMap<string, OpDef> = new Map(Object.entries(OPS as Record<string, OpDef>));

/** The registry entry for an op; throws for unknown names (a compiler bug: users never name IR ops). */
export function opDef(name: string): OpDef {
  const def = OP_TABLE.get(name);
  if (!def) throw new Error(`internal: unknown op ${name}`);
  return def;
}

/** Whether `name` is a registered op. */
export function isOpName(name: string): name is OpName {
  return OP_TABLE.has(name);
}

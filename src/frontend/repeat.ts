import type { Diagnostics } from "../base/diagnostics.js";
import { sourceText } from "../base/source.js";
import type { BlockDecl, CallExpr, Ident } from "./ast.js";
import type { BlockSignature } from "./blocks.js";
import type { FunctionDef } from "./function-def.js";
import { FUNCTIONS } from "./functions.js";
import type { BlockDef, BlockScope } from "./modules.js";
import { staticValue } from "./statics.js";

/** The most instances a `repeat` unrolls. */
export const MAX_REPEAT = 10000;

/** A `repeat` checked: how many times, and the block or function each step calls (`call`, without the chained input). */
export interface RepeatPlan {
  count: number;
  call: CallExpr;
  block?: BlockDef;
  fn?: FunctionDef;
}

/** What checking a repeat needs from the lowering: the blocks in scope, their signatures, and how to report an unknown one. */
export interface RepeatScope {
  blocks: BlockScope;
  signature(decl: BlockDecl): BlockSignature | undefined;
  /** Marks a block as called (so it is not checked again as unused). */
  use(decl: BlockDecl): void;
  unknownCallee(callee: Ident): void;
}

/**
 * Checks `x |> repeat(N, Template(args))` apart from its input: N a whole number from 1 to
 * MAX_REPEAT, and a template that is a block with one input and one output, or a one-tensor
 * function or layer, with no instance name of its own (the repeat names the instances).
 */
export function planRepeat(e: CallExpr, scope: RepeatScope, d: Diagnostics): RepeatPlan | undefined {
  const [, countExpr, template, ...extra] = e.args;
  if (!countExpr || !template || (template.kind !== "call" && template.kind !== "name") || extra.length || e.kwargs.length) {
    d.error("NC2021", e.span);
    return undefined;
  }
  const call: CallExpr =
    template.kind === "call" ? template : { kind: "call", callee: { name: template.name, span: template.span }, args: [], kwargs: [], span: template.span };
  const count = staticValue(countExpr);
  // NOTE: a repeat is unrolled, so its count is bounded like a program's size: repeat(65536, ...)
  // of a residual block kept check busy for minutes (found by the fuzzer; 1e38 never ended).
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > MAX_REPEAT) {
    d.error("NC2020", countExpr.span, { got: typeof count === "number" ? String(count) : `\`${sourceText(countExpr.span)}\`` });
    return undefined;
  }
  if (call.instance) {
    d.error("NC2028", call.instance.span, { name: call.instance.name });
    return undefined;
  }
  const name = call.callee.name;
  const block = scope.blocks.get(name);
  const fn = block ? undefined : FUNCTIONS[name];
  if (!block && !fn) {
    if (name === "repeat") d.error("NC2021", call.span);
    else scope.unknownCallee(call.callee);
    return undefined;
  }
  if (block) {
    const sig = scope.signature(block.decl);
    scope.use(block.decl);
    if (!sig) return undefined;
    if (sig.inputs.length !== 1 || sig.outputs.length !== 1) {
      const detail = `it takes ${sig.inputs.length} input(s) and gives ${sig.outputs.length} output(s)`;
      d.error("NC2022", call.callee.span, { name, detail });
      return undefined;
    }
  } else if (fn!.params.length !== 1 || fn!.variadic) {
    d.error("NC2022", call.callee.span, { name, detail: `it takes ${fn!.variadic ? "any number of" : fn!.params.length} tensor arguments` });
    return undefined;
  }
  return { count, call, ...(block ? { block } : { fn: fn! }) };
}

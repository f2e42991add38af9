import type { BlockDecl, CallExpr, Expr, InputDecl, OutputDecl, Stmt, TypeExpr } from "./ast.js";
import type { Diagnostics } from "../base/diagnostics.js";
import type { KwKind, KwValue } from "./function-def.js";
import type { Span } from "../base/source.js";

/** The kinds a block parameter can have, as written, and how call arguments are checked for each. */
export const BLOCK_PARAM_KINDS: Record<string, KwKind> = { int: "int", float: "number", bool: "bool", fn: "function" };

/** What unused blocks are checked with when a static parameter has no default. */
export const PLACEHOLDERS: Partial<Record<KwKind, KwValue>> = { int: 1, number: 1, bool: false, function: "relu" };

/** A block's signature: tensor inputs in order, static parameters in order, outputs in order. */
export interface BlockSignature {
  inputs: InputDecl[];
  statics: { name: string; kind: KwKind; default?: KwValue }[];
  outputs: OutputDecl[];
}

/** Checks what a block declares, once per block; `undefined` when calls to it cannot be lowered. */
export function blockSignature(
  decl: BlockDecl,
  d: Diagnostics,
  checkDefaults: (defaults: CallExpr, kinds: Record<string, KwKind>) => Record<string, KwValue> | undefined,
): BlockSignature | undefined {
  let ok = true;
  const kinds: Record<string, KwKind> = {};
  const seen = new Map<string, Span>();
  for (const p of decl.params) {
    const prior = seen.get(p.name.name);
    if (prior) {
      d.error("NC2003", p.name.span, { name: p.name.name }).notes.push({ message: "first defined here", span: prior });
      ok = false;
      continue;
    }
    seen.set(p.name.name, p.name.span);
    const kind = BLOCK_PARAM_KINDS[p.type.name];
    if (!kind) {
      d.error("NC2016", p.type.span, { name: p.name.name, kind: p.type.name });
      ok = false;
      continue;
    }
    kinds[p.name.name] = kind;
  }
  // NOTE: inside the body a static parameter stands for its value, so a statement may not reuse its name.
  for (const s of decl.body) {
    for (const n of s.kind === "let" ? s.names : [s.name]) {
      const prior = seen.get(n.name);
      if (!prior || (s.kind === "output" && !s.value)) continue;
      d.error("NC2003", n.span, { name: n.name }).notes.push({ message: "first defined here", span: prior });
      ok = false;
    }
  }
  const outputs = decl.body.filter((s): s is OutputDecl => s.kind === "output");
  if (!outputs.length) {
    d.error("NC2017", decl.name.span, { name: decl.name.name });
    ok = false;
  }
  const withDefault = decl.params.filter((p) => p.default && p.name.name in kinds);
  const defaults = checkDefaults(
    {
      kind: "call",
      callee: decl.name,
      args: [],
      kwargs: withDefault.map((p) => ({ name: p.name, value: p.default!, span: p.span })),
      span: decl.name.span,
    },
    kinds,
  );
  if (!ok || !defaults) return undefined;
  return {
    inputs: decl.body.filter((s): s is InputDecl => s.kind === "input"),
    statics: Object.entries(kinds).map(([name, kind]) => ({ name, kind, default: defaults[name] })),
    outputs,
  };
}

/**
 * A block body for one instance: every use of a static parameter becomes its value (a number, a
 * boolean, or the name of the function a `fn` parameter holds, also as a callee), and every other
 * symbolic dim (`B`) becomes the instance's own (`r1.B`), which infer-shapes binds from the call.
 * Spans stay those of the block's source, so errors point into the block.
 */
export function instantiateBody(body: Stmt[], statics: Record<string, KwValue>, prefix: string, d: Diagnostics, block: string): Stmt[] {
  const expr = (e: Expr): Expr => {
    switch (e.kind) {
      case "number":
        return e;
      case "name": {
        const v = statics[e.name];
        if (v === undefined) return e;
        if (typeof v === "number") return { kind: "number", value: v, span: e.span };
        if (typeof v === "boolean" || typeof v === "string") return { kind: "name", name: String(v), span: e.span };
        // NOTE: block params are int, float, bool or fn; a list is never a `shape` (names), only numbers.
        return { kind: "array", items: (v as number[]).map((value) => ({ kind: "number", value, span: e.span })), span: e.span };
      }
      case "unary":
        return { ...e, operand: expr(e.operand) };
      case "binary":
        return { ...e, left: expr(e.left), right: expr(e.right) };
      case "array":
        return { ...e, items: e.items.map(expr) };
      case "call": {
        const fn = statics[e.callee.name];
        const callee = typeof fn === "string" ? { name: fn, span: e.callee.span } : e.callee;
        return { ...e, callee, args: e.args.map(expr), kwargs: e.kwargs.map((k) => ({ ...k, value: expr(k.value) })) };
      }
    }
  };
  const type = (t: TypeExpr): TypeExpr => ({
    ...t,
    dims: t.dims.map((dim) => {
      if (dim.expr) return { ...dim, expr: expr(dim.expr) };
      if (typeof dim.value === "number") return dim;
      const v = statics[dim.value];
      if (v === undefined) return { ...dim, value: `${prefix}${dim.value}` };
      if (typeof v !== "number" || !Number.isInteger(v)) {
        d.error("NC2006", dim.span, { arg: dim.value, name: block, expected: "an integer to be used as a dim" });
        return { ...dim, value: `${prefix}${dim.value}` };
      }
      return { ...dim, value: v };
    }),
  });
  return body.map((s): Stmt => {
    switch (s.kind) {
      case "input":
        return { ...s, type: type(s.type) };
      case "param":
        return { ...s, type: type(s.type), init: s.init && expr(s.init) };
      case "let":
        return { ...s, value: expr(s.value) };
      case "output":
        return { ...s, type: s.type && type(s.type), value: s.value && expr(s.value) };
    }
  });
}

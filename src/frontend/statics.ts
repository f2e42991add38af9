import type { Init } from "../ir/graph.js";
import { DTYPES, type Dim, type DType, type TensorType } from "../ir/types.js";
import type { CallExpr, Expr, TypeExpr } from "./ast.js";
import { suggest, suggestNearest, type Diagnostics } from "../base/diagnostics.js";
import type { KwKind, KwValue } from "./function-def.js";
import { FUNCTIONS } from "./functions.js";

/** The largest size a layer argument may give (a tensor dim is a 32-bit count on the GPU). */
const MAX_SIZE = 2147483647;

/**
 * What the source fixes at compile time: literal values, keyword arguments checked against the
 * kinds a function, block, optimizer or schedule accepts, and the declarations built from them
 * (tensor types, param initializers). None of it emits nodes; errors go to `d`.
 */

/** Each initializer and the options it takes (all numbers). */
const INITS: Record<Init["kind"], string[]> = {
  zeros: [],
  ones: [],
  normal: ["mean", "std"],
  uniform: ["low", "high"],
  xavier: ["gain"],
  he: ["gain"],
};

/** The value of a literal expression (numbers, -numbers, true/false, lists of numbers), if it is one. */
export function staticValue(e: Expr): KwValue | undefined {
  switch (e.kind) {
    case "number":
      return e.value;
    case "unary": {
      const v = staticValue(e.operand);
      return typeof v === "number" ? -v : undefined;
    }
    case "name":
      return e.name === "true" ? true : e.name === "false" ? false : undefined;
    case "binary": {
      // Arithmetic over numbers (`2 * hidden` once a block's int param is substituted); `/` is
      // exact division, so an integer argument given `7 / 2` is refused, not rounded.
      const a = staticValue(e.left);
      const b = staticValue(e.right);
      if (typeof a !== "number" || typeof b !== "number" || e.op === "@") return undefined;
      const v = e.op === "+" ? a + b : e.op === "-" ? a - b : e.op === "*" ? a * b : a / b;
      return Number.isFinite(v) ? v : undefined;
    }
    case "array": {
      const vs = e.items.map(staticValue);
      return vs.every((v) => typeof v === "number") ? (vs as number[]) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The keyword arguments of call `e` to `name`, each checked against its kind in `kinds`;
 * `undefined` (with every mistake reported) when one is unknown, repeated or of the wrong kind.
 */
export function checkKwargs(e: CallExpr, name: string, kinds: Record<string, KwKind>, d: Diagnostics): Record<string, KwValue> | undefined {
  const out: Record<string, KwValue> = {};
  let ok = true;
  for (const k of e.kwargs) {
    const kind = kinds[k.name.name];
    if (!kind) {
      const accepted = Object.keys(kinds);
      d.error("NC2005", k.name.span, { name, arg: k.name.name, accepted: accepted.length ? accepted.join(", ") : "no keyword arguments" });
      ok = false;
      continue;
    }
    if (k.name.name in out) {
      d.error("NC2010", k.name.span, { arg: k.name.name });
      ok = false;
      continue;
    }
    if (kind === "shape") {
      const dims = shapeValue(k.value);
      if (dims) out[k.name.name] = dims;
      else {
        d.error("NC2006", k.value.span, { arg: k.name.name, name, expected: "a list of dims, each a whole number or a name (`[B, 16]`)" });
        ok = false;
      }
      continue;
    }
    const v = (kind === "function" || kind === "padding") && k.value.kind === "name" ? k.value.name : staticValue(k.value);
    if (kind === "function") {
      const f = typeof v === "string" ? FUNCTIONS[v] : undefined;
      if (!f || f.params.length !== 1 || f.variadic || f.layer || (f.statics ?? []).length) {
        const unary = Object.entries(FUNCTIONS).filter(([, def]) => def.params.length === 1 && !def.variadic && !def.layer && !(def.statics ?? []).length);
        d.error("NC2006", k.value.span, {
          arg: k.name.name,
          name,
          expected: `a one-argument function${suggestNearest(typeof v === "string" ? v : "", unary.map(([n]) => n))}`,
        });
        ok = false;
        continue;
      }
      out[k.name.name] = v!;
      continue;
    }
    const fits =
      (kind === "number" && typeof v === "number") ||
      (kind === "int" && typeof v === "number" && Number.isInteger(v)) ||
      (kind === "size" && typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_SIZE) ||
      (kind === "bool" && typeof v === "boolean") ||
      ((kind === "ints" || kind === "padding") && (Number.isInteger(v) || (Array.isArray(v) && v.every(Number.isInteger)))) ||
      (kind === "padding" && (v === "same" || v === "valid"));
    if (!fits) {
      const expected = {
        number: "a number",
        int: "an integer",
        size: `a whole number from 1 to ${MAX_SIZE}`,
        bool: "true or false",
        ints: "an integer or a list of integers",
        padding: "`same`, `valid`, an integer or a list of integers",
      }[kind as Exclude<KwKind, "function" | "shape">];
      d.error("NC2006", k.value.span, { arg: k.name.name, name, expected });
      ok = false;
      continue;
    }
    out[k.name.name] = v!;
  }
  return ok ? out : undefined;
}

/** `[B, 2 * 8]` as dims: whole numbers (arithmetic evaluated) and names of symbolic dims. */
function shapeValue(e: Expr): Dim[] | undefined {
  if (e.kind !== "array") return undefined;
  const dims = e.items.map((item): Dim | undefined => {
    if (item.kind === "name" && item.name !== "true" && item.name !== "false") return item.name;
    const v = staticValue(item);
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined;
  });
  return dims.every((x) => x !== undefined) ? (dims as Dim[]) : undefined;
}

/** The tensor type `f32[B, 784]` names; dims are taken as written (infer-shapes unifies them). */
export function resolveType(t: TypeExpr, d: Diagnostics): TensorType | undefined {
  if (!(DTYPES as readonly string[]).includes(t.dtype.name)) {
    d.error("NC2011", t.dtype.span, { name: t.dtype.name, accepted: DTYPES.join(", ") });
    return undefined;
  }
  let ok = true;
  const shape = t.dims.map((x) => {
    const v = x.expr ? staticValue(x.expr) : x.value;
    if (typeof v === "string") return v;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
    const names = x.expr ? namesIn(x.expr) : [];
    const detail = names.length
      ? `\`${names.join("`, `")}\` ${names.length === 1 ? "is not an int param" : "are not int params"} (a symbolic dim cannot take part)`
      : `it comes to ${typeof v === "number" ? Number(v.toPrecision(6)) : "no number"}`;
    d.error("NC2035", x.span, { dim: String(x.value), detail });
    ok = false;
    return 0;
  });
  return ok ? { dtype: t.dtype.name as DType, shape } : undefined;
}

/** The names an expression reads (not callees). */
function namesIn(e: Expr): string[] {
  switch (e.kind) {
    case "name":
      return [e.name];
    case "unary":
      return namesIn(e.operand);
    case "binary":
      return [...new Set([...namesIn(e.left), ...namesIn(e.right)])];
    case "array":
      return [...new Set(e.items.flatMap(namesIn))];
    case "call":
      return [...new Set([...e.args.flatMap(namesIn), ...e.kwargs.flatMap((k) => namesIn(k.value))])];
    default:
      return [];
  }
}

/** The initializer a param declares: `normal` or `normal(std = 0.1)`. */
export function resolveInit(e: Expr, d: Diagnostics): Init | undefined {
  const name = e.kind === "name" ? e.name : e.kind === "call" ? e.callee.name : "";
  const span = e.kind === "call" ? e.callee.span : e.span;
  if (!(name in INITS)) {
    d.error("NC2007", span, { name: name || "?", hint: suggest(name, Object.keys(INITS)) });
    return undefined;
  }
  const kind = name as Init["kind"];
  if (e.kind !== "call") return { kind, options: {} };
  const kinds = Object.fromEntries(INITS[kind].map((k) => [k, "number" as KwKind]));
  const kw = checkKwargs(e, name, kinds, d);
  return kw && { kind, options: kw as Record<string, number> };
}

/** A static parameter of a function or block: its name, kind and default (a block's may have one). */
interface StaticParam {
  name: string;
  kind: KwKind;
  default?: KwValue;
}

/**
 * Whether a call has as many arguments as its callee takes: `nTensors` tensors, then at most one
 * per static parameter (NC2004, listing them, when not).
 */
export function argCountFits(e: CallExpr, name: string, nTensors: number, tensorNames: readonly string[], statics: readonly StaticParam[], variadic: boolean, d: Diagnostics): boolean {
  if (e.args.length >= nTensors && e.args.length <= nTensors + statics.length) return true;
  const names = [...tensorNames, ...statics.map((s) => s.name)];
  const expected = variadic ? `${nTensors} or more` : statics.length ? `${nTensors} to ${names.length}` : `${nTensors}`;
  d.error("NC2004", e.span, { name, expected: `${expected} (${names.join(", ")})`, got: e.args.length });
  return false;
}

/**
 * A call's static arguments, given positionally after its `nTensors` tensors or by keyword, checked
 * against their kinds (and the callee's other keyword arguments, `kwargs`).
 */
export function staticArgs(e: CallExpr, name: string, nTensors: number, statics: readonly StaticParam[], kwargs: Record<string, KwKind>, d: Diagnostics): Record<string, KwValue> | undefined {
  const kinds = { ...kwargs, ...Object.fromEntries(statics.map((s) => [s.name, s.kind])) };
  const positional = e.args.slice(nTensors).map((value, i) => ({ name: { name: statics[i]!.name, span: value.span }, value, span: value.span }));
  return checkKwargs({ ...e, kwargs: [...positional, ...e.kwargs] }, name, kinds, d);
}

/** Whether the call gives every static parameter that has no default (NC2014 for the first it leaves out). */
export function staticsGiven(e: CallExpr, name: string, statics: readonly StaticParam[], given: Record<string, KwValue>, d: Diagnostics): boolean {
  const missing = statics.find((s) => !(s.name in given) && s.default === undefined);
  if (missing) d.error("NC2014", e.span, { name, arg: missing.name });
  return !missing;
}

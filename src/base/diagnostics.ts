import { formatLocation, type Span } from "./source.js";

/**
 * Every diagnostic a user can cause, in one table. Codes group by stage:
 * NC1xxx syntax, NC2xxx names and calls, NC3xxx shapes and types, NC4xxx training section,
 * NC5xxx data and runtime setup.
 */
export const DIAGNOSTICS = {
  NC1001: "unexpected character {text}",
  NC1002: "syntax error: {message}",
  NC1003: "unterminated comment",
  NC1004: "invalid number {text}",
  NC1005: "positional argument follows keyword argument `{name}`",
  NC1006: "this expression nests {depth} deep (brackets and signs); at most {limit} levels are allowed: name inner parts with lets, or chain layers with `|>`",
  NC2001: "unknown name `{name}`{hint}",
  NC2002: "unknown function `{name}`{hint}",
  NC2003: "`{name}` is already defined",
  NC2004: "`{name}` takes {expected} positional argument(s), got {got}",
  NC2005: "`{name}` has no argument `{arg}`; it accepts: {accepted}",
  NC2006: "argument `{arg}` of `{name}` must be {expected}",
  NC2007: "unknown initialiser `{name}`{hint}",
  NC2008: "output `{name}` is never defined",
  NC2009: "the file defines no network",
  NC2010: "argument `{arg}` given twice",
  NC2011: "unknown dtype `{name}`; expected one of: {accepted}",
  NC2013: "`{name}` is not a layer, so its call cannot be named",
  NC2014: "`{name}` needs the argument `{arg}`",
  NC2029: "`{name}` unrolls over time, so the sequence length must be a number, got {dim}",
  NC2030: "`{name}`: {features} features cannot be split into {heads} heads of equal size",
  NC2031: "`{name}`: padding must be `same`, `valid`, an integer or a list of {axes} integers, none negative",
  NC2032: "`{name}`: `{arg}` must be a positive integer or a list of {axes} positive integers",
  NC2033: "`{name}`: {channels} input channels and {filters} filters must both divide into {groups} groups",
  NC2034: "`{name}`: the dropout rate must be in [0, 1), got {rate}",
  NC2035: "dim `{dim}` must be a whole number of 0 or more, from integers and int params: {detail}",
  NC2036: "`{name}` unrolls over time, so the sequence length must be from 1 to {max}, got {steps}",
  NC2012: "more than one network in a file is not supported yet; `{name}` is the second",
  NC2015: "unknown function or block `{name}`{hint}",
  NC2016: "block parameter `{name}` has unknown kind `{kind}`; expected one of: int, float, bool, fn",
  NC2017: "block `{name}` has no output",
  NC2018: "block `{name}` has {count} outputs ({names}); unpack them with `{names} = {name}(...)`",
  NC2019: "`{name}` gives {got} value(s) but {expected} names are bound",
  NC2020: "the repeat count must be a whole number from 1 to 10000, got {got}",
  NC2021: "`repeat` takes a count and the call to repeat, e.g. `x |> repeat(3, Residual(64))`",
  NC2022: "`{name}` cannot be repeated: it must take one tensor input and give one output, but {detail}",
  NC2023: "block `{name}` uses itself: {cycle}",
  NC2024: "import cycle: {cycle}",
  NC2025: "cannot find imported file `{path}`",
  NC2026: "`{name}` is a built-in function; a block cannot take its name",
  NC2027: "import `{path}` brings in `{name}`, which is already defined",
  NC2028: "name the repeat, not the repeated call: `{name}: repeat(...)`",
  NC3001: "shapes do not broadcast in `{op}`: {a} and {b} (dim {dim}: {da} vs {db})",
  NC3002: "matmul inner dims differ: {a} @ {b} ({da} vs {db})",
  NC3003: "`{op}` wants {expected}, got {got}",
  NC3004: "`{op}` expects a tensor of rank {expected}, got {got}",
  NC3005: "axis {axis} is out of range for a tensor of rank {rank}",
  NC3006: "cannot reshape {a} into {b}",
  NC3007: "dim {dim} is bound to both {a} and {b}",
  NC3008: "the loss must be a scalar, got {shape}",
  NC3009: "declared type {declared} of `{name}` does not match its value {actual}",
  NC3010: "the shape of `{name}` is not determined: {dims} is never bound",
  NC4011: "unknown schedule `{name}`; expected one of: {accepted}",
  NC3011: "batched matmul needs the same batch dims on both sides, or none on one: {a} @ {b}",
  NC3012: "`transpose` wants a permutation of the axes 0..{last}, got perm = {perm}",
  NC3013: "`{op}` needs a known size on axis {axis}, got {dim}",
  NC3014: "slice {start}:{end} is out of range for axis {axis} of size {size}",
  NC3015: "cannot concat {a} and {b} along axis {axis}: {reason}",
  NC3016: "`{op}`: the input has {channels} channels, but the weight {weight} with {groups} group(s) wants {expected}",
  NC3017: "`{op}`: {count} {what} do not divide into {groups} groups",
  NC3018: "`{op}`: the window spans {window} on axis {axis}, more than the padded input's {padded}",
  NC3019: "`{op}`: window {index} on axis {axis} lies entirely in the padding",
  NC3021: "`{op}` wants {expected} for {operand}, got {got}",
  NC3020: "input `{name}` of `{block}` must be {expected}, got {actual}",
  NC3022: "{what} {type} holds {count} values; a tensor holds at most 2147483647 (2^31 - 1)",
  NC4001: "the training section has no `{key}`",
  NC4002: "unknown training setting `{key}`; expected one of: {accepted}",
  NC4003: "unknown optimizer `{name}`{hint}",
  NC4004: "`{key}` must be {expected}",
  NC4005: "data for `{name}` has shape {got}, expected {expected}",
  NC4006: "data rows are ragged: row {row} has {got} values, expected {expected}",
  NC4007: "no data given for input `{name}`",
  NC4008: "data `{name}` has {got} rows but `{other}` has {expected}",
  NC4009: "unknown loss `{name}`{hint}",
  NC4010: "the loss uses `{name}`, which is neither a network output nor a data column",
  NC4012: "give the data either as a dataset (`data = fashion_mnist`) or as columns (`data { ... }`), not both",
  NC4013: "unknown dataset `{name}`{hint}; known: {accepted}",
  NC4014: "a dataset feeds one network input, but `{name}` has {count}",
  NC4015: "unknown metric `{name}`; expected one of: {accepted}",
  NC4017: "{what}{value} is beyond f32's range: numbers of a training section are at most 3.4e38 in size",
  NC4016: "accuracy needs a classification loss that names its prediction and target, e.g. `cross_entropy(logits, labels)`; {loss} is not one",
  NC4018: "`{name}` feeds its targets to the network as the label `labels`, but `labels` is already {what} here; rename it",
  NC6001: "invalid IR: {message}",
} as const;

/** A diagnostic code from the table. */
export type DiagnosticCode = keyof typeof DIAGNOSTICS;

/** One reported problem, with an optional note at a second span. */
export interface Diagnostic {
  severity: "error" | "warning";
  code: DiagnosticCode;
  message: string;
  span?: Span;
  notes: { message: string; span?: Span }[];
}

/** Fills `{name}` placeholders of a message template. */
function fill(template: string, args: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (k in args ? String(args[k]) : ""));
}

/** Collects user errors; every stage receives one and reports into it instead of throwing. */
export class Diagnostics {
  readonly items: Diagnostic[] = [];

  /** Reports an error; returns the diagnostic so a note can be attached. */
  error(code: DiagnosticCode, span: Span | undefined, args: Record<string, string | number> = {}): Diagnostic {
    const d: Diagnostic = { severity: "error", code, message: fill(DIAGNOSTICS[code], args), span, notes: [] };
    this.items.push(d);
    return d;
  }

  /** True when at least one error was reported. */
  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === "error");
  }

  /** All diagnostics rendered for a terminal, in source order. */
  render(): string {
    return sortBySpan(this.items).map(renderDiagnostic).join("\n");
  }
}

function sortBySpan(items: Diagnostic[]): Diagnostic[] {
  return [...items].sort((a, b) => (a.span?.start ?? -1) - (b.span?.start ?? -1));
}

/** `file:line:col: error NCxxxx: message`, the source line and a caret under the span. */
export function renderDiagnostic(d: Diagnostic): string {
  const out: string[] = [];
  const where = d.span ? `${formatLocation(d.span)}: ` : "";
  out.push(`${where}${d.severity} ${d.code}: ${d.message}`);
  if (d.span) out.push(...excerpt(d.span));
  for (const n of d.notes) {
    out.push(`${n.span ? formatLocation(n.span) + ": " : ""}note: ${n.message}`);
    if (n.span) out.push(...excerpt(n.span));
  }
  return out.join("\n");
}

function excerpt(span: Span): string[] {
  const { line, col } = span.file.position(span.start);
  const text = span.file.lineText(line);
  const endOnLine = Math.min(span.end - span.file.lineStarts[line - 1]!, text.length);
  const width = Math.max(1, endOnLine - (col - 1));
  const gutter = String(line).length;
  return [
    `${" ".repeat(gutter)} |`,
    `${line} | ${text}`,
    `${" ".repeat(gutter)} | ${" ".repeat(col - 1)}^${"~".repeat(width - 1)}`,
  ];
}

/** The closest candidate by edit distance, as a "; did you mean `x`?" hint, or "". */
export function suggest(name: string, candidates: Iterable<string>): string {
  let best = "";
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best && bestDist <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean \`${best}\`?` : "";
}

/**
 * The `count` candidates nearest to `name` by edit distance (the first listed wins a tie), as a
 * "; did you mean `a`, `b` or `c`?" hint: a list that stays short however many candidates there are.
 */
export function suggestNearest(name: string, candidates: readonly string[], count = 3): string {
  const ranked = candidates
    .map((c, i) => ({ c, i, d: editDistance(name.toLowerCase(), c.toLowerCase()) }))
    .sort((x, y) => x.d - y.d || x.i - y.i)
    .slice(0, count)
    .map(({ c }) => `\`${c}\``);
  if (ranked.length === 0) return "";
  const last = ranked.pop()!;
  return `; did you mean ${ranked.length ? `${ranked.join(", ")} or ${last}` : last}?`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/**
 * Drops diagnostics reported since `first` that repeat an earlier one exactly: a mistake inside a
 * block is found again in every instance (`repeat(3, ...)` lowers its body three times).
 */
export function dropRepeats(d: Diagnostics, first: number): void {
  const key = (i: Diagnostic) => `${i.code} ${i.span?.file.path}:${i.span?.start}:${i.span?.end} ${i.message}`;
  const seen = new Set(d.items.slice(0, first).map(key));
  const kept: Diagnostic[] = [];
  for (const item of d.items.slice(first)) {
    if (seen.has(key(item))) continue;
    seen.add(key(item));
    kept.push(item);
  }
  d.items.splice(first, d.items.length - first, ...kept);
}

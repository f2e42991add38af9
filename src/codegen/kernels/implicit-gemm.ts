/**
 * A parameterised WGSL template for a window op seen as a matrix product with no matrix in memory
 * (GemmView in ir/ops/types.ts: conv and its gradients): out[row, col] = sum_k A[row, k] · B[k, col].
 *
 * It is the register-blocked matmul (kernels/matmul.ts) with two changes: row, column and k are
 * boxes of coordinates, so the k loop is a nest and each thread unravels its rows and columns
 * once; and every address is an affine map split into an outer part (computed once per row or
 * column) and an inner part (once per k, shared by the whole block). Padding is a bound on an
 * affine position; a load outside it reads as 0 through select (its address is clamped so the
 * load itself stays in the buffer).
 *
 * Each thread owns tileM x tileN outputs strided by the workgroup (as in matmul.ts), so a k step
 * costs tileM + tileN loads for tileM · tileN multiply-adds, against two loads per multiply-add in
 * the one-thread-per-element kernels. Arithmetic is i32 (offsets may go negative before a bound
 * discards them); the caller keeps every tensor under 2^31 elements.
 */
import type { GemmOperand, GemmView } from "../../ir/ops/types.js";
import { numel } from "../../ir/types.js";
import { dispatchGrid } from "./matmul.js";

/** Template parameters of the implicit GEMM kernel, chosen by measurement (bench/conv.bench.ts). */
export interface GemmTiling {
  tileM: number;
  tileN: number;
  /** Threads per workgroup; split between columns and rows by the shape (see workgroupShape). */
  threads: number;
}

export interface ImplicitGemmSpec {
  view: GemmView;
  tiling: GemmTiling;
  /** The WGSL variable holding each input (by GemmOperand.input), e.g. `in0`. */
  buffers: string[];
  /** Lengths of those buffers in elements (for clamping padded loads). */
  lengths: number[];
  /** Lines before `main` (bindings, an `epilogue(acc: f32, idx: u32) -> f32` function). */
  header: string[];
  /** Lines at the top of `main` (phony uses that keep bindings in the layout). */
  prologue: string[];
  /** Whether `header` defines `epilogue`. */
  epilogue: boolean;
  comment: string;
}

/**
 * Columns and rows of threads in a workgroup of `threads`: as many columns as the blocks across
 * the output need (a power of two, at most `threads`), the rest rows, so a narrow output (16
 * channels) does not leave most of a workgroup idle.
 */
export function workgroupShape(rows: number, cols: number, t: GemmTiling): [number, number] {
  const across = Math.ceil(cols / t.tileN);
  let wx = 1;
  while (wx < across && wx < t.threads) wx *= 2;
  const wy = Math.max(1, Math.min(t.threads / wx, 2 ** Math.ceil(Math.log2(Math.ceil(rows / t.tileM)))));
  return [wx, wy];
}

export function implicitGemmKernel(spec: ImplicitGemmSpec): { wgsl: string; workgroups: [number, number, number] } {
  const { view, tiling } = spec;
  const { tileM, tileN } = tiling;
  const [m, n] = [numel(view.rows), numel(view.cols)];
  const [wx, wy] = workgroupShape(m, n, tiling);
  const tilesX = Math.ceil(n / (tileN * wx));
  const tilesY = Math.ceil(m / (tileM * wy));
  const grid = dispatchGrid(tilesX, tilesY, 1);
  const natural = grid[0] === tilesX && grid[1] === tilesY;
  const u = (v: number) => `${v}u`;
  const L: string[] = [`// ${spec.comment}`, `// implicit GEMM [${m} x ${n}], k ${view.ks.join("x")}, ${tileM}x${tileN} per thread, workgroup ${wx}x${wy}`];
  L.push(...spec.header, "", `@compute @workgroup_size(${wx}, ${wy})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {`);
  L.push(...spec.prologue.map((l) => `  ${l}`));
  if (natural) L.push(`  let tile_x = wid.x;`, `  let tile_y = wid.y;`);
  else {
    L.push(
      `  let tile = wid.x + wid.y * ${u(grid[0])} + wid.z * ${u(grid[0] * grid[1])};`,
      `  if (tile >= ${u(tilesX * tilesY)}) { return; }`,
      `  let tile_x = tile % ${u(tilesX)};`,
      `  let tile_y = tile / ${u(tilesX)};`,
    );
  }
  L.push(`  let row0 = tile_y * ${u(tileM * wy)} + lid.y;`, `  let col0 = tile_x * ${u(tileN * wx)} + lid.x;`);
  L.push(`  if (row0 >= ${u(m)} || col0 >= ${u(n)}) { return; }`);
  const rows = range(tileM);
  const cols = range(tileN);
  for (const r of rows.slice(1)) L.push(`  let row${r} = row0 + ${u(r * wy)};`);
  for (const c of cols.slice(1)) L.push(`  let col${c} = col0 + ${u(c * wx)};`);
  // Coordinates of each (clamped) row and column, and their outer parts.
  for (const r of rows) L.push(...outerPart(`r${r}`, `row${r}`, m, view.rows, view.a));
  for (const c of cols) L.push(...outerPart(`c${c}`, `col${c}`, n, view.cols, view.b));
  for (const r of rows) for (const c of cols) L.push(`  var acc${r}_${c} = 0.0;`);
  const ks = view.ks.map((_, i) => `k${i}`);
  let indent = "  ";
  view.ks.forEach((extent, i) => {
    L.push(`${indent}for (var ${ks[i]} = 0i; ${ks[i]} < ${extent}i; ${ks[i]}++) {`);
    indent += "  ";
  });
  L.push(`${indent}let ka = ${affineSum(view.a.offset.inner, ks, 0)};`, `${indent}let kb = ${affineSum(view.b.offset.inner, ks, 0)};`);
  view.a.bounds.forEach((bd, j) => L.push(`${indent}let ka${j} = ${affineSum(bd.inner, ks, 0)};`));
  view.b.bounds.forEach((bd, j) => L.push(`${indent}let kb${j} = ${affineSum(bd.inner, ks, 0)};`));
  for (const r of rows) L.push(`${indent}let a${r} = ${load(spec, view.a, `r${r}`, "ka")};`);
  for (const c of cols) L.push(`${indent}let b${c} = ${load(spec, view.b, `c${c}`, "kb")};`);
  for (const r of rows) for (const c of cols) L.push(`${indent}acc${r}_${c} += a${r} * b${c};`);
  for (const _ of view.ks) {
    indent = indent.slice(2);
    L.push(`${indent}}`);
  }
  for (const r of rows) {
    for (const c of cols) {
      const guard = [r > 0 ? `row${r} < ${u(m)}` : "", c > 0 ? `col${c} < ${u(n)}` : ""].filter(Boolean).join(" && ");
      const idx = `u32(r${r}_out + c${c}_out)`;
      const value = spec.epilogue ? `epilogue(acc${r}_${c}, ${idx})` : `acc${r}_${c}`;
      const store = `out[${idx}] = ${value};`;
      L.push(guard ? `  if (${guard}) { ${store} }` : `  ${store}`);
    }
  }
  L.push(`}`, "");
  return { wgsl: L.join("\n"), workgroups: grid };

  /** Unravels row (or column) `index` into coordinates and names its offset, bound and output parts. */
  function outerPart(p: string, index: string, count: number, extents: number[], op: GemmOperand): string[] {
    const out: string[] = [`  let ${p} = i32(min(${index}, ${u(count - 1)}));`];
    const coords = extents.map((_, d) => `${p}_${d}`);
    let inner = 1;
    for (let d = extents.length - 1; d >= 0; d--) {
      const q = inner === 1 ? p : `(${p} / ${inner}i)`;
      out.push(`  let ${coords[d]} = ${d === 0 ? q : `${q} % ${extents[d]}i`};`);
      inner *= extents[d]!;
    }
    const own = op === view.a ? view.out.rows : view.out.cols;
    out.push(`  let ${p}_off = ${affineSum(op.offset.outer, coords, op.offset.constant)};`);
    op.bounds.forEach((bd, j) => out.push(`  let ${p}_p${j} = ${affineSum(bd.outer, coords, bd.constant)};`));
    out.push(`  let ${p}_out = ${affineSum(own, coords, 0)};`);
    return out;
  }
}

/** The f32 load of operand `op` for the row or column named `p` at k offset `k`, zero outside its bounds. */
function load(spec: ImplicitGemmSpec, op: GemmOperand, p: string, k: string): string {
  const buf = spec.buffers[op.input]!;
  if (!op.bounds.length) return `${buf}[u32(${p}_off + ${k})]`;
  // NOTE: u32(pos) < size tests 0 <= pos < size at once (a negative pos wraps to a huge value).
  const ok = op.bounds.map((bd, j) => `u32(${p}_p${j} + ${k}${j}) < ${bd.size}u`).join(" && ");
  const len = spec.lengths[op.input]!;
  return `select(0.0, ${buf}[u32(clamp(${p}_off + ${k}, 0i, ${len - 1}i))], ${ok})`;
}

/** `constant + Σ coef·name` as i32 WGSL, dropping zero terms. */
function affineSum(coef: number[], names: string[], constant: number): string {
  const terms: string[] = [];
  coef.forEach((c, i) => {
    if (c === 0) return;
    terms.push(c === 1 ? names[i]! : `${names[i]} * ${c}i`);
  });
  if (constant !== 0 || !terms.length) terms.push(`${constant}i`);
  return terms.join(" + ").replace(/\+ -(\d)/g, "- $1");
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

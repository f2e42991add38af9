/**
 * A parameterised WGSL template for a window op seen as a matrix product with no matrix in memory
 * (GemmView in ir/ops/types.ts: conv and its gradients): out[row, col] = sum_k A[row, k] · B[k, col].
 *
 * It is the register-blocked matmul (kernels/matmul.ts) with two changes: row, column and k are
 * boxes of coordinates, so each thread unravels its rows and columns once and the k loop walks
 * the k box as one flat loop (see kLoop); and every address is an affine map split into an outer
 * part (computed once per row or column) and an inner part (kept as a running sum over k, shared
 * by the whole block). Padding is a bound on an
 * affine position; a load outside it reads as 0 through select (its address is clamped so the
 * load itself stays in the buffer).
 *
 * On llvmpipe the first dispatch compiles the shader, in time that grows with the code: NIR
 * writes out every loop it can count up to 32 steps, and LLVM gets a branch per SIMD lane for
 * every load and store site. So the k loop and the store loop hide their counts, and the kernel
 * has tileM + tileN load sites and one store site.
 *
 * Each thread owns tileM x tileN outputs strided by the workgroup (as in matmul.ts), so a k step
 * costs tileM + tileN loads for tileM · tileN multiply-adds, against two loads per multiply-add in
 * the one-thread-per-element kernels. Arithmetic is i32 (offsets may go negative before a bound
 * discards them); the caller keeps every tensor under 2^31 elements.
 */
import type { GemmOperand, GemmView } from "../../ir/ops/types.js";
import { numel } from "../../ir/types.js";
import { dispatchGrid } from "./matmul.js";

/**
 * Template parameters of the implicit GEMM kernel, chosen by measurement (bench/conv.bench.ts,
 * bench/conv-kernels.ts for the first dispatch's compile time on llvmpipe).
 */
export interface GemmTiling {
  tileM: number;
  tileN: number;
  /** Threads per workgroup; split between columns and rows by the shape (see workgroupShape). */
  threads: number;
  /** Workgroups wanted at least (so every CPU thread of a software adapter has one): see workgroupShape. */
  minWorkgroups?: number;
  /** Stores in a loop over the block (default) rather than written out (false): see the kernel. */
  storeLoop?: boolean;
  /** k steps written out per loop iteration (when it divides k's size; 1 otherwise). */
  unroll?: number;
  /**
   * The adapter's subgroup size, when fixed and the device has WGSL subgroups: then, where a
   * subgroup's threads share their rows (the workgroup's columns of threads are a multiple of it,
   * and so is tileM), each thread loads tileM / size of the rows' A values at a k step and
   * subgroupBroadcast hands them to the others. See sharedRows.
   */
  subgroup?: number;
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
  // Fewer columns of threads while the last block across overhangs by more than an eighth of the
  // width: 144 columns (a weight gradient's 16·3·3) in blocks of 64 x 4 leave 112 of the last 256
  // idle, in 8 x 4 blocks 16 of the last 32 (1.6x faster measured).
  const waste = (w: number) => Math.ceil(across / w) * w - across;
  while (wx > 1 && waste(wx) > across / 8) wx /= 2;
  let wy = Math.max(1, Math.min(t.threads / wx, 2 ** Math.ceil(Math.log2(Math.ceil(rows / t.tileM)))));
  // A small output (a first layer's weight gradient: 32 x 9 over a k of B·26·26) would fit in one
  // workgroup, and llvmpipe runs a workgroup on one CPU thread: smaller workgroups, down to one
  // SIMD vector of threads, until there are minWorkgroups of them.
  const groups = () => Math.ceil(cols / (t.tileN * wx)) * Math.ceil(rows / (t.tileM * wy));
  const least = t.minWorkgroups ?? 1;
  while (groups() < least && wx * wy > MIN_THREADS) {
    if (wy > 1) wy /= 2;
    else wx /= 2;
  }
  return [wx, wy];
}

/**
 * The subgroup size when a subgroup's threads can share the loads of their rows' A values, else
 * undefined: the threads of a subgroup share their rows when they lie in one row of the
 * workgroup (invocations are numbered x first, and llvmpipe runs them in subgroups of
 * consecutive numbers), so the workgroup's width must be a multiple of the size, and tileM too.
 * NOTE: on llvmpipe every load is a loop over the SIMD lanes with a branch each (Mesa 25.0: even
 * an address the same in every lane), and loads were 80% of an implicit GEMM's time; sharing A
 * cuts a k step's loads per thread from tileM + tileN to tileM / size + tileN.
 */
function sharedRows(t: GemmTiling, wx: number): number | undefined {
  const sg = t.subgroup;
  return sg && sg > 1 && wx % sg === 0 && t.tileM % sg === 0 ? sg : undefined;
}

/** Threads in the smallest workgroup workgroupShape makes: one 8-wide SIMD vector of llvmpipe. */
const MIN_THREADS = 8;

/**
 * The tiling and workgroup shape of an [m x n] output. With subgroups, an output too narrow for a
 * subgroup-wide row of threads (a first layer's weight gradient: 32 x 9 over a k of B·26·26, 12
 * threads of 8x4 blocks) gets columns of one output each, a subgroup wide, the last block's
 * overhang accepted: more threads, and rows shared (2 loads per k step against 12).
 */
export function gemmShape(m: number, n: number, t: GemmTiling): { tiling: GemmTiling; wx: number; wy: number } {
  const [wx, wy] = workgroupShape(m, n, t);
  const sg = t.subgroup;
  if (!sg || t.tileM % sg !== 0 || wx % sg === 0 || n <= sg / 2 || t.threads < sg) return { tiling: t, wx, wy };
  const narrow = { ...t, tileN: 1 };
  let y = Math.max(1, Math.min(t.threads / sg, 2 ** Math.ceil(Math.log2(Math.ceil(m / t.tileM)))));
  const groups = () => Math.ceil(n / sg) * Math.ceil(m / (t.tileM * y));
  while (groups() < (t.minWorkgroups ?? 1) && y > 1) y /= 2;
  return { tiling: narrow, wx: sg, wy: y };
}

export function implicitGemmKernel(spec: ImplicitGemmSpec): { wgsl: string; workgroups: [number, number, number] } {
  const { view } = spec;
  const [m, n] = [numel(view.rows), numel(view.cols)];
  const { tiling, wx, wy } = gemmShape(m, n, spec.tiling);
  const { tileM, tileN } = tiling;
  const tilesX = Math.ceil(n / (tileN * wx));
  const tilesY = Math.ceil(m / (tileM * wy));
  const grid = dispatchGrid(tilesX, tilesY, 1);
  const natural = grid[0] === tilesX && grid[1] === tilesY;
  const u = (v: number) => `${v}u`;
  const sg = sharedRows(tiling, wx);
  const L: string[] = [...(sg ? ["enable subgroups;"] : []), `// ${spec.comment}`];
  L.push(`// implicit GEMM [${m} x ${n}], k ${view.ks.join("x")}, ${tileM}x${tileN} per thread, workgroup ${wx}x${wy}${sg ? `, rows shared by subgroups of ${sg}` : ""}`);
  L.push(...spec.header, "", `@compute @workgroup_size(${wx}, ${wy})`);
  const sid = sg ? ", @builtin(subgroup_invocation_id) sid: u32" : "";
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${sid}) {`);
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
  // NOTE: with shared rows every thread of a subgroup must reach the broadcasts: threads past the
  // output compute on clamped rows and columns and only their stores are skipped.
  if (!sg) L.push(`  if (row0 >= ${u(m)} || col0 >= ${u(n)}) { return; }`);
  const rows = range(tileM);
  const cols = range(tileN);
  for (const r of rows.slice(1)) L.push(`  let row${r} = row0 + ${u(r * wy)};`);
  for (const c of cols.slice(1)) L.push(`  let col${c} = col0 + ${u(c * wx)};`);
  // Coordinates of each (clamped) row and column, and their outer parts.
  if (sg) {
    // This thread's share of the subgroup's rows: row sid, sid + size, ... of the block.
    for (const i of range(tileM / sg)) {
      L.push(`  let srow${i} = row0 + (sid + ${u(i * sg)}) * ${u(wy)};`);
      L.push(...outerPart(`s${i}`, `srow${i}`, m, view.rows, view.a));
    }
    for (const r of rows) L.push(`  let r${r}_out = ${outIndex(r)};`);
  } else for (const r of rows) L.push(...outerPart(`r${r}`, `row${r}`, m, view.rows, view.a));
  for (const c of cols) L.push(...outerPart(`c${c}`, `col${c}`, n, view.cols, view.b));
  for (const r of rows) for (const c of cols) L.push(`  var acc${r}_${c} = 0.0;`);
  L.push(...kLoop(view, tiling.unroll ?? 1, (ind) => {
    const body: string[] = [];
    if (sg) {
      for (const i of range(tileM / sg)) body.push(`${ind}let sa${i} = ${load(spec, view.a, `s${i}`, "ka")};`);
      for (const r of rows) body.push(`${ind}let a${r} = subgroupBroadcast(sa${Math.floor(r / sg)}, ${u(r % sg)});`);
    } else for (const r of rows) body.push(`${ind}let a${r} = ${load(spec, view.a, `r${r}`, "ka")};`);
    for (const c of cols) body.push(`${ind}let b${c} = ${load(spec, view.b, `c${c}`, "kb")};`);
    for (const r of rows) for (const c of cols) body.push(`${ind}acc${r}_${c} += a${r} * b${c};`);
    return body;
  }));
  if (tiling.storeLoop === false || tileM * tileN === 1) {
    for (const r of rows) {
      for (const c of cols) {
        const guard = [r > 0 || sg ? `row${r} < ${u(m)}` : "", c > 0 || sg ? `col${c} < ${u(n)}` : ""].filter(Boolean).join(" && ");
        const idx = `u32(r${r}_out + c${c}_out)`;
        const value = spec.epilogue ? `epilogue(acc${r}_${c}, ${idx})` : `acc${r}_${c}`;
        const store = `out[${idx}] = ${value};`;
        L.push(guard ? `  if (${guard}) { ${store} }` : `  ${store}`);
      }
    }
  } else {
    // NOTE: one store (and one epilogue) in a loop rather than tileM x tileN written out: llvmpipe
    // expands every store site into a branch per SIMD lane, and the written-out stores were most
    // of the kernel's code, so most of its compile time. The count is hidden as in kLoop.
    const list = (name: string, type: string, items: string[]) => `  var ${name} = array<${type}, ${items.length}>(${items.join(", ")});`;
    L.push(
      list("accs", "f32", rows.flatMap((r) => cols.map((c) => `acc${r}_${c}`))),
      list("outs_r", "i32", rows.map((r) => `r${r}_out`)),
      list("outs_c", "i32", cols.map((c) => `c${c}_out`)),
      `  let n_out = select(0u, ${u(tileM * tileN)}, arrayLength(&out) > 0u);`,
      `  for (var t = 0u; t < n_out; t++) {`,
      `    let r = t / ${u(tileN)};`,
      `    let c = t % ${u(tileN)};`,
      `    if (row0 + r * ${u(wy)} < ${u(m)} && col0 + c * ${u(wx)} < ${u(n)}) {`,
      `      let idx = u32(outs_r[r] + outs_c[c]);`,
      `      out[idx] = ${spec.epilogue ? "epilogue(accs[t], idx)" : "accs[t]"};`,
      `    }`,
      `  }`,
    );
  }
  L.push(`}`, "");
  return { wgsl: L.join("\n"), workgroups: grid };

  /** The output part of block row r (only its output index: its A values come by broadcast). */
  function outIndex(r: number): string {
    const p = `i32(min(row${r}, ${u(m - 1)}))`;
    let inner = 1;
    const terms: string[] = [];
    for (let d = view.rows.length - 1; d >= 0; d--) {
      const q = inner === 1 ? p : `(${p} / ${inner}i)`;
      const coord = d === 0 ? q : `${q} % ${view.rows[d]}i`;
      const c = view.out.rows[d]!;
      if (c !== 0) terms.push(c === 1 ? `(${coord})` : `(${coord}) * ${c}i`);
      inner *= view.rows[d]!;
    }
    return terms.length ? terms.join(" + ") : "0i";
  }

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

/**
 * The k loop, flat: one counter over every k coordinate, with the inner parts of each address
 * (ka, kb) and bound position (ka0, kb0, ...) kept as running sums that each step moves by a
 * constant, carrying into the next coordinate out when one wraps. A nest of constant-count loops
 * would cost less arithmetic but llvmpipe (NIR) fully unrolls every loop of up to 32 steps, so the
 * [c, 3, 3] nest of a conv became hundreds of copies of the block and seconds of compile at the
 * first dispatch; a flat loop whose count NIR cannot see is not unrolled (beyond `unroll`).
 */
function kLoop(view: GemmView, unroll: number, body: (indent: string) => string[]): string[] {
  const tracked = [
    { name: "ka", coef: view.a.offset.inner },
    { name: "kb", coef: view.b.offset.inner },
    ...view.a.bounds.map((bd, j) => ({ name: `ka${j}`, coef: bd.inner })),
    ...view.b.bounds.map((bd, j) => ({ name: `kb${j}`, coef: bd.inner })),
  ];
  // Coordinates of extent 1 never move.
  const dims = view.ks.map((extent, d) => ({ extent, d })).filter((x) => x.extent > 1);
  const total = numel(view.ks);
  const u = unroll > 1 && total % unroll === 0 ? unroll : 1;
  const L: string[] = [];
  for (const t of tracked) L.push(`  var ${t.name} = 0i;`);
  for (const x of dims.slice(1)) L.push(`  var k${x.d} = 0i;`);
  // NOTE: the count goes through arrayLength (never 0: a binding holds at least one element) so
  // NIR cannot see it and unroll a short k loop whole (a 9-step one took seconds to compile).
  L.push(`  let k_steps = select(0u, ${total / u}u, arrayLength(&out) > 0u);`, `  for (var kf = 0u; kf < k_steps; kf++) {`);
  const step = (ind: string) => [...body(ind), ...(dims.length ? advance(dims.length - 1, ind) : [])];
  if (u === 1) L.push(...step("    "));
  // Each written-out step in a block of its own, so its loads' names do not clash.
  else for (let i = 0; i < u; i++) L.push(`    {`, ...step("      "), `    }`);
  L.push(`  }`);
  return L;

  /** Moves the running sums one step along dims[i], carrying into dims[i - 1] when it wraps. */
  function advance(i: number, ind: string): string[] {
    const x = dims[i]!;
    const inner = dims[i + 1];
    const out: string[] = [];
    for (const t of tracked) {
      // NOTE: the inner coordinate has already stepped to its extent; the carry takes it back to 0.
      const delta = (t.coef[x.d] ?? 0) - (inner ? inner.extent * (t.coef[inner.d] ?? 0) : 0);
      if (delta !== 0) out.push(`${ind}${t.name} += ${delta}i;`);
    }
    if (i === 0) return out;
    out.push(`${ind}k${x.d} += 1i;`, `${ind}if (k${x.d} == ${x.extent}i) {`, `${ind}  k${x.d} = 0i;`, ...advance(i - 1, `${ind}  `), `${ind}}`);
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

/**
 * A parameterised WGSL template for batched matmul, out[b, i, j] = sum_k A'[b, i, k] * B'[b, k, j],
 * with optional transposes and an elementwise epilogue.
 *
 * 1. Every thread owns a tileM x tileN block of outputs and keeps it in registers (no workgroup
 *    memory: on llvmpipe that measured faster; a tiled-in-workgroup-memory template is a separate
 *    choice for real GPUs). The block is strided: the thread at local (x, y) owns rows
 *    `rowBase + y + r * workgroup[1]` and columns `colBase + x + c * workgroup[0]`, so neighbouring
 *    threads read neighbouring addresses of B (and of A when transposed).
 * 2. The loop over k loads tileM values of A' and tileN values of B' and does tileM * tileN
 *    multiply-adds. Loads use clamped row/column indices, so a partial block needs no branch in
 *    the loop; only the stores are guarded.
 * 3. The shapes are WGSL constants (kernels are specialised per shape); every index is u32.
 * 4. Workgroups tile (columns, rows, batch) as (x, y, z). When a count exceeds the per-dimension
 *    limit, the tiles are numbered linearly and the number is folded over x, y and z.
 * 5. `vector: 4` binds an operand as array<vec4<f32>> where its layout allows: A along k (not
 *    transposed), Bᵀ along k, B along n (then a thread's columns come in groups of 4 adjacent ones,
 *    with vec4 accumulators); k then steps by 4. `kUnroll` steps k by more than 1 otherwise. A
 *    remainder loop takes the last k % step values.
 * 6. `splitK: S` makes the workgroup (x, y, S): slice z sums its share of k, the slices' sums meet
 *    in workgroup memory after one barrier, and slice 0 adds them up and stores. More threads per
 *    output block for outputs too small to occupy a GPU (a batch of 128 rows); no extra kernel.
 * 7. `subgroups: true` (one row of threads) reads A once per subgroup instead of once per thread:
 *    every thread of a workgroup needs the same tileM values of A' at each k, so lane l of a
 *    subgroup loads row `row0 + 8g + l` and each thread takes row r from lane r % 8 with
 *    subgroupBroadcast. On llvmpipe (Mesa 25.0) every storage read whose index is not a constant is
 *    a loop over the SIMD lanes with a bounds check and a branch per lane, so reads, not
 *    multiply-adds, bound a matmul: a 16x4 block then takes 2 + 4 reads per k instead of 16 + 4.
 *
 * Bindings (group 0): 0 = A, 1 = B, 2..1+extraInputs = epilogue inputs e0, e1, ..., last = out.
 */

/** Shapes, transposes and template parameters of one matmul kernel. */
export interface MatmulSpec {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** Elements between consecutive batches of A and of B (default m·k and k·n; 0 shares one matrix across the batch). */
  batchStrideA?: number;
  batchStrideB?: number;
  /** A is stored [batch, k, m] and used transposed. */
  transA: boolean;
  /** B is stored [batch, n, k] and used transposed. */
  transB: boolean;
  /** Rows of the output block each thread computes. */
  tileM: number;
  /** Columns of the output block each thread computes. */
  tileN: number;
  /** Threads per workgroup as [x (along n), y (along m)]. */
  workgroup: [number, number];
  /** Steps of k per loop iteration (default 1; 4 whenever an operand is read as vec4 along k). */
  kUnroll?: number;
  /**
   * k-slices per workgroup (default 1): the workgroup is (x, y, splitK) threads, slice z sums a
   * 1/splitK share of k, and the slices add up their sums in workgroup memory. More threads per
   * output block, for outputs too small to fill the adapter (a batch of 128 rows).
   */
  splitK?: number;
  /**
   * 4: read A' and B' as vec4 where their contiguous dimension (k for A, n or k for B) and batch
   * stride divide by 4 (B along n also needs tileN divisible by 4); other operands stay scalar.
   */
  vector?: 1 | 4;
  /**
   * Read A' once per subgroup and broadcast it (see the header, step 7). Needs workgroup[1] = 1,
   * no split-K, and a device with the `subgroups` feature whose subgroups have at least 8
   * invocations (A' is then read as scalars: `vector` applies to B only).
   */
  subgroups?: boolean;
  /**
   * WGSL defining `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32`; it may read the
   * `extraInputs` bindings as `e0`, `e1`, ... (each `array<f32>`).
   */
  epilogue?: { extraInputs: number; fn: string };
}

/** A named choice of template parameters, to be picked by measurement (see bench/matmul.bench.ts). */
export interface MatmulVariant {
  name: string;
  tileM: number;
  tileN: number;
  workgroup: [number, number];
  kUnroll?: number;
  vector?: 1 | 4;
  splitK?: number;
  subgroups?: boolean;
}

/** The variants the benchmark and the tests run. */
export const MATMUL_VARIANTS: MatmulVariant[] = [
  { name: "naive", tileM: 1, tileN: 1, workgroup: [8, 8] },
  { name: "reg2x2", tileM: 2, tileN: 2, workgroup: [8, 8] },
  { name: "reg4x4", tileM: 4, tileN: 4, workgroup: [8, 8] },
  { name: "reg4x8", tileM: 4, tileN: 8, workgroup: [8, 8] },
  { name: "reg8x4", tileM: 8, tileN: 4, workgroup: [8, 8] },
  { name: "reg8x8", tileM: 8, tileN: 8, workgroup: [8, 8] },
];

/** Variants of the vec4, k-unroll and split-K parameters (the tuner's candidates are among these shapes). */
export const MATMUL_TEMPLATE_VARIANTS: MatmulVariant[] = [
  { name: "reg4x4v4", tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4 },
  { name: "reg2x4v4", tileM: 2, tileN: 4, workgroup: [8, 8], vector: 4 },
  { name: "reg4x4u3", tileM: 4, tileN: 4, workgroup: [8, 8], kUnroll: 3 },
  { name: "reg4x4k2", tileM: 4, tileN: 4, workgroup: [8, 8], splitK: 2 },
  { name: "row4x4", tileM: 4, tileN: 4, workgroup: [8, 1] },
  { name: "reg2x4v4k4", tileM: 2, tileN: 4, workgroup: [8, 4], vector: 4, splitK: 4 },
];

/** Variants that broadcast A across the subgroup (need the `subgroups` feature, subgroups of 8 or more). */
export const MATMUL_SUBGROUP_VARIANTS: MatmulVariant[] = [
  { name: "sg16x2", tileM: 16, tileN: 2, workgroup: [8, 1], subgroups: true },
  { name: "sg16x4", tileM: 16, tileN: 4, workgroup: [8, 1], subgroups: true },
  { name: "sg8x4v4", tileM: 8, tileN: 4, workgroup: [16, 1], vector: 4, subgroups: true },
];

/** The WebGPU default for `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS_PER_DIM = 65535;
/** The WebGPU default for `maxComputeInvocationsPerWorkgroup`. */
const MAX_INVOCATIONS = 256;
/** k loops of at most this many steps hide their count from the shader compiler (see matmulKernel). */
const SHORT_K_STEPS = 64;
/** The WebGPU default for `maxComputeWorkgroupStorageSize`. */
const MAX_WORKGROUP_BYTES = 16384;

/** WGSL for one matmul specialised to `spec`, and the grid to dispatch it with. */
export function matmulKernel(spec: MatmulSpec): { wgsl: string; workgroups: [number, number, number] } {
  return withEpilogue(matmulTemplate(spec), spec.epilogue);
}

/**
 * A matmul's WGSL around the place of its epilogue function: everything `matmulKernel` writes
 * depends on the spec's numbers and on whether there is an epilogue (and how many inputs it
 * reads), not on the epilogue's text, so matmuls of one shape share it (see MatmulTemplates).
 */
interface MatmulTemplate {
  /** The text before the epilogue function: the comment and bindings, then an empty line. */
  head: string;
  /** The text after it: the workgroup memory, the entry point. */
  tail: string;
  workgroups: [number, number, number];
}

/** A template's WGSL with the epilogue function (if any) in its place. */
function withEpilogue(t: MatmulTemplate, epilogue: MatmulSpec["epilogue"]): { wgsl: string; workgroups: [number, number, number] } {
  // NOTE: the same text as one join of the template's lines with `fn` and an empty line between.
  const wgsl = epilogue ? `${t.head}${epilogue.fn.trimEnd()}\n\n${t.tail}` : t.head + t.tail;
  return { wgsl, workgroups: t.workgroups };
}

/**
 * Matmul templates made so far, by every field of the spec: a planned training step has a few
 * matmul shapes and many matmuls (a 50-layer network: 152 matmuls, 6 shapes), which then differ
 * only in their epilogues. Keyed by the whole spec but the epilogue's text, so a template is only
 * ever reused for a spec that would write the same; hold one per plan, not across programs.
 */
export class MatmulTemplates {
  private readonly made = new Map<string, MatmulTemplate>();

  /** The same as `matmulKernel(spec)`. */
  kernel(spec: MatmulSpec): { wgsl: string; workgroups: [number, number, number] } {
    // NOTE: every field but the epilogue's text, whatever fields the spec grows (a spec written
    // with its fields in another order only misses a template, it never gets a wrong one).
    const { epilogue, ...fields } = spec;
    const key = `${JSON.stringify(fields)} ${epilogue ? epilogue.extraInputs : "none"}`;
    let t = this.made.get(key);
    if (!t) {
      t = matmulTemplate(spec);
      this.made.set(key, t);
    }
    return withEpilogue(t, spec.epilogue);
  }
}

/** The template of `spec` (its epilogue's text is not read). */
function matmulTemplate(spec: MatmulSpec): MatmulTemplate {
  check(spec);
  const { batch, m, n, k, transA, transB, tileM, tileN } = spec;
  const [wx, wy] = spec.workgroup;
  const extras = spec.epilogue?.extraInputs ?? 0;
  const strideA = spec.batchStrideA ?? m * k;
  const strideB = spec.batchStrideB ?? k * n;
  const vector = spec.vector ?? 1;
  const sg = spec.subgroups === true;
  // Which operands are read 4 floats at a time (see the header): each needs its contiguous
  // dimension, and its batch stride, to divide by 4.
  const aVecK = vector === 4 && !sg && !transA && k % 4 === 0 && strideA % 4 === 0;
  const bVecN = vector === 4 && !transB && n % 4 === 0 && tileN % 4 === 0 && strideB % 4 === 0;
  const bVecK = vector === 4 && transB && k % 4 === 0 && strideB % 4 === 0;
  const unroll = aVecK || bVecK ? 4 : Math.max(1, spec.kUnroll ?? 1);
  const split = spec.splitK ?? 1;
  // Each k-slice of a split workgroup sums `chunk` steps of k (a multiple of the unroll, so vec4
  // reads stay aligned).
  const chunk = Math.ceil(Math.ceil(k / split) / unroll) * unroll;

  const tilesX = Math.ceil(n / (tileN * wx));
  const tilesY = Math.ceil(m / (tileM * wy));
  const grid = dispatchGrid(tilesX, tilesY, batch);
  const natural = grid[0] === tilesX && grid[1] === tilesY && grid[2] === batch;

  const u = (v: number) => `${v}u`;
  const rows = range(tileM);
  const cols = range(tileN);
  const groups = range(tileN / 4);
  // Strides of A' and B' along (row or column, k) in their storage.
  const aRow = transA ? 1 : k;
  const aK = transA ? m : 1;
  const bCol = transB ? k : 1;
  const bK = transB ? 1 : n;

  const lines: string[] = [];
  lines.push(
    `// matmul: out[${batch}, ${m}, ${n}] = A${transA ? "ᵀ" : ""}[${m}, ${k}] · B${transB ? "ᵀ" : ""}[${k}, ${n}], ` +
      `${tileM}x${tileN} per thread, workgroup ${wx}x${wy}, k by ${unroll}${aVecK || bVecN || bVecK ? `, vec4 ${[aVecK ? "A" : "", bVecN || bVecK ? "B" : ""].join("")}` : ""}${sg ? ", A broadcast across the subgroup" : ""}`,
    ...(sg ? [`enable subgroups;`] : []),
    `@group(0) @binding(0) var<storage, read> mm_a: array<${aVecK ? "vec4<f32>" : "f32"}>;`,
    `@group(0) @binding(1) var<storage, read> mm_b: array<${bVecN || bVecK ? "vec4<f32>" : "f32"}>;`,
  );
  for (let e = 0; e < extras; e++) lines.push(`@group(0) @binding(${2 + e}) var<storage, read> e${e}: array<f32>;`);
  lines.push(`@group(0) @binding(${2 + extras}) var<storage, read_write> out: array<f32>;`, "");
  const head = lines.join("\n") + "\n";
  // The epilogue function goes between head and the lines from here on (see withEpilogue).
  lines.length = 0;
  lines.push(
    ...(split > 1 ? [`var<workgroup> partial: array<f32, ${split * wx * wy * tileM * tileN}>;`, ""] : []),
    `@compute @workgroup_size(${wx}, ${wy}${split > 1 ? `, ${split}` : ""})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${sg ? ", @builtin(subgroup_invocation_id) lane: u32" : ""}) {`,
  );
  // NOTE: layout "auto" leaves out bindings the shader never uses, and the bind group would then
  // not match; a phony use keeps every epilogue input in the layout.
  for (let e = 0; e < extras; e++) lines.push(`  _ = &e${e};`);
  if (natural) {
    lines.push(`  let tile_x = wid.x;`, `  let tile_y = wid.y;`, `  let b = wid.z;`);
  } else {
    lines.push(
      `  // the tiles are numbered linearly and folded over the grid (too many for one dimension)`,
      `  let tile = wid.x + wid.y * ${u(grid[0])} + wid.z * ${u(grid[0] * grid[1])};`,
      `  if (tile >= ${u(tilesX * tilesY * batch)}) { return; }`,
      `  let tile_x = tile % ${u(tilesX)};`,
      `  let tile_y = (tile / ${u(tilesX)}) % ${u(tilesY)};`,
      `  let b = tile / ${u(tilesX * tilesY)};`,
    );
  }
  // NOTE: a split workgroup meets at a barrier, and a subgroup broadcast needs every lane, so
  // both need uniform control flow: threads past the edge compute on clamped indices and skip only
  // the stores.
  const uniform = split > 1 || sg;
  const inRange = (cond: string) => (uniform ? `  let in_range = ${cond};` : `  if (!(${cond})) { return; }`);
  // NOTE: with one row of threads, rows depend on the workgroup alone. llvmpipe (Mesa 25.0) still
  // reads them lane by lane (it reads once for all lanes only at a constant index); the subgroup
  // broadcast (header, step 7) is what reads them once.
  lines.push(`  let row0 = tile_y * ${u(tileM * wy)}${wy > 1 ? " + lid.y" : ""};`);
  // Column c of the block: strided by the workgroup width, or with vec4 B, in groups of 4
  // adjacent columns (group g starts at colg_g, a multiple of 4).
  const col = (c: number) => (bVecN ? `colg${Math.floor(c / 4)} + ${u(c % 4)}` : `col${c}`);
  if (bVecN) {
    lines.push(`  let colg0 = tile_x * ${u(tileN * wx)} + lid.x * 4u;`, inRange(`row0 < ${u(m)} && colg0 < ${u(n)}`));
    for (const g of groups.slice(1)) lines.push(`  let colg${g} = colg0 + ${u(g * 4 * wx)};`);
  } else {
    lines.push(`  let col0 = tile_x * ${u(tileN * wx)} + lid.x;`, inRange(`row0 < ${u(m)} && col0 < ${u(n)}`));
    for (const c of cols.slice(1)) lines.push(`  let col${c} = col0 + ${u(c * wx)};`);
  }
  for (const r of rows.slice(1)) lines.push(`  let row${r} = row0 + ${u(r * wy)};`);
  // Offsets of each row of A' and each column of B' at k = 0, clamped into the matrix (in vec4s
  // for an operand read as vec4).
  lines.push(`  let a_base = b * ${u(aVecK ? strideA / 4 : strideA)};`, `  let b_base = b * ${u(bVecN || bVecK ? strideB / 4 : strideB)};`);
  // With the broadcast, lane l reads row row0 + 8g + l for each group g of 8 rows of the block.
  const laneGroups = range(Math.ceil(tileM / 8));
  if (sg) for (const g of laneGroups) lines.push(`  let a_lane${g} = a_base + ${clampTimes(`row0 + ${u(g * 8)} + lane`, m, aRow)};`);
  else for (const r of rows) lines.push(`  let a_off${r} = a_base + ${clampTimes(`row${r}`, m, aVecK ? k / 4 : aRow)};`);
  if (bVecN) for (const g of groups) lines.push(`  let b_off${g} = b_base + ${n === 4 ? "0u" : `min(colg${g}, ${u(n - 4)}) / 4u`};`);
  else for (const c of cols) lines.push(`  let b_off${c} = b_base + ${clampTimes(`col${c}`, n, bVecK ? k / 4 : bCol)};`);
  if (bVecN) for (const r of rows) for (const g of groups) lines.push(`  var acc${r}_${g} = vec4<f32>(0.0);`);
  else for (const r of rows) for (const c of cols) lines.push(`  var acc${r}_${c} = 0.0;`);

  /** The loop body for k = kk + 0 .. kk + steps - 1. */
  const body = (steps: number, vec: boolean): string[] => {
    const out: string[] = [];
    const at = (q: number) => (q === 0 ? "kk" : `(kk + ${u(q)})`);
    const a = (r: number, q: number) => (aVecK && vec ? `av${r}[${q}]` : `a${r}_${q}`);
    const bv = (c: number, q: number) => (bVecK && vec ? `bv${c}[${q}]` : `b${c}_${q}`);
    if (sg) {
      for (const q of range(steps)) {
        for (const g of laneGroups) out.push(`let al${g}_${q} = mm_a[a_lane${g}${timesK(at(q), aK)}];`);
        for (const r of rows) out.push(`let a${r}_${q} = subgroupBroadcast(al${Math.floor(r / 8)}_${q}, ${u(r % 8)});`);
      }
    } else
      for (const r of rows) {
        if (aVecK && vec) out.push(`let av${r} = mm_a[a_off${r} + kk / 4u];`);
        else for (const q of range(steps)) out.push(`let a${r}_${q} = ${aVecK ? `mm_a[a_off${r} + ${at(q)} / 4u][${at(q)} % 4u]` : `mm_a[a_off${r}${timesK(at(q), aK)}]`};`);
      }
    if (bVecN) {
      for (const g of groups) for (const q of range(steps)) out.push(`let bv${g}_${q} = mm_b[b_off${g} + ${at(q)} * ${u(n / 4)}];`);
      for (const q of range(steps)) for (const r of rows) for (const g of groups) out.push(`acc${r}_${g} += ${a(r, q)} * bv${g}_${q};`);
      return out;
    }
    for (const c of cols) {
      if (bVecK && vec) out.push(`let bv${c} = mm_b[b_off${c} + kk / 4u];`);
      else for (const q of range(steps)) out.push(`let b${c}_${q} = ${bVecK ? `mm_b[b_off${c} + ${at(q)} / 4u][${at(q)} % 4u]` : `mm_b[b_off${c}${timesK(at(q), bK)}]`};`);
    }
    for (const q of range(steps)) for (const r of rows) for (const c of cols) out.push(`acc${r}_${c} += ${a(r, q)} * ${bv(c, q)};`);
    return out;
  };
  // NOTE: loop counts and the store loop's count go through arrayLength (a binding is never
  // empty, so the select always takes the count): llvmpipe's compiler writes out in full every
  // loop whose count it can see up to 32 steps, and a short k (9, 27) or a block of 64 stores made
  // a kernel take seconds to compile at its first dispatch.
  const hidden = (count: number) => `select(0u, ${u(count)}, arrayLength(&out) > 0u)`;
  if (split === 1) {
    const main = k - (k % unroll);
    if (main > 0) {
      // NOTE: a long k keeps its constant count (the compiler unrolls it only in part, and a
      // visible count measured faster on 1024³); a short one is hidden.
      const bound = main / unroll <= SHORT_K_STEPS ? hidden(main) : u(main);
      lines.push(`  let k_main = ${bound};`, `  for (var kk = 0u; kk < k_main; kk += ${u(unroll)}) {`, ...body(unroll, true).map((l) => `    ${l}`), `  }`);
    }
    if (main < k) {
      lines.push(`  for (var kk = ${u(main)}; kk < ${u(k)}; kk++) {`, ...body(1, false).map((l) => `    ${l}`), `  }`);
    }
  } else {
    // k-slice lid.z sums k in [k_lo, k_hi); the slices' sums meet in workgroup memory.
    lines.push(`  let k_lo = min(lid.z * ${u(chunk)}, ${u(k)});`, `  let k_hi = min(k_lo + ${u(chunk)}, ${u(k)});`, `  var kk = k_lo;`);
    if (unroll > 1) lines.push(`  for (; kk + ${u(unroll - 1)} < k_hi; kk += ${u(unroll)}) {`, ...body(unroll, true).map((l) => `    ${l}`), `  }`);
    lines.push(`  for (; kk < k_hi; kk++) {`, ...body(1, false).map((l) => `    ${l}`), `  }`);
    const accs: string[] = [];
    for (const r of rows) for (const c of cols) accs.push(bVecN ? `acc${r}_${Math.floor(c / 4)}[${c % 4}]` : `acc${r}_${c}`);
    const slot = (z: string, t: number) => `(${z} * ${u(wx * wy)} + lid.y * ${u(wx)} + lid.x) * ${u(accs.length)} + ${u(t)}`;
    accs.forEach((acc, t) => lines.push(`  partial[${slot("lid.z", t)}] = ${acc};`));
    lines.push(`  workgroupBarrier();`, `  if (lid.z != 0u || !in_range) { return; }`);
    lines.push(`  for (var z = 1u; z < ${u(split)}; z++) {`);
    accs.forEach((acc, t) => lines.push(`    ${acc} += partial[${slot("z", t)}];`));
    lines.push(`  }`);
  }
  lines.push(`  let o_base = b * ${u(m * n)};`);
  if (!bVecN && tileM * tileN > 1) {
    // One store (and one epilogue) in a loop over the block rather than tileM x tileN written out
    // (see the note on loop counts above): llvmpipe expands each store site into a branch per lane.
    lines.push(
      `  var accs = array<f32, ${tileM * tileN}>(${rows.flatMap((r) => cols.map((c) => `acc${r}_${c}`)).join(", ")});`,
      `  let n_out = ${hidden(tileM * tileN)};`,
      `  for (var t = 0u; t < n_out; t++) {`,
      `    let row = row0 + (t / ${u(tileN)}) * ${u(wy)};`,
      `    let col = col0 + (t % ${u(tileN)}) * ${u(wx)};`,
      `    if (row < ${u(m)} && col < ${u(n)}) {`,
      `      out[o_base + row * ${u(n)} + col] = ${spec.epilogue ? "epilogue(accs[t], b, row, col)" : "accs[t]"};`,
      `    }`,
      `  }`,
      `}`,
      "",
    );
    return { head, tail: lines.join("\n"), workgroups: grid };
  }
  for (const r of rows) {
    for (const c of cols) {
      const guard = [sg ? "in_range" : "", r > 0 ? `row${r} < ${u(m)}` : "", bVecN ? (c >= 4 ? `colg${Math.floor(c / 4)} < ${u(n)}` : "") : c > 0 ? `col${c} < ${u(n)}` : ""]
        .filter(Boolean)
        .join(" && ");
      const acc = bVecN ? `acc${r}_${Math.floor(c / 4)}[${c % 4}]` : `acc${r}_${c}`;
      const value = spec.epilogue ? `epilogue(${acc}, b, row${r}, ${col(c)})` : acc;
      const store = `out[o_base + row${r} * ${u(n)} + ${col(c)}] = ${value};`;
      lines.push(guard ? `  if (${guard}) { ${store} }` : `  ${store}`);
    }
  }
  lines.push(`}`, "");
  return { head, tail: lines.join("\n"), workgroups: grid };
}

/**
 * The grid for (tilesX, tilesY, batch) tiles: as is when each fits the per-dimension limit, else
 * the tile count folded over x, y and z (the kernel then numbers tiles linearly and skips extras).
 */
export function dispatchGrid(tilesX: number, tilesY: number, batch: number, limit = MAX_GROUPS_PER_DIM): [number, number, number] {
  if (tilesX <= limit && tilesY <= limit && batch <= limit) return [tilesX, tilesY, batch];
  const total = tilesX * tilesY * batch;
  const x = Math.min(total, limit);
  const y = Math.min(Math.ceil(total / x), limit);
  const z = Math.ceil(total / (x * y));
  if (z > limit || x * y * z >= 2 ** 32) throw new Error(`internal: matmul needs ${total} workgroups, more than one dispatch allows`);
  return [x, y, z];
}

function check(spec: MatmulSpec): void {
  const positive = { batch: spec.batch, m: spec.m, n: spec.n, k: spec.k, tileM: spec.tileM, tileN: spec.tileN };
  for (const [name, v] of [...Object.entries(positive), ["workgroup[0]", spec.workgroup[0]], ["workgroup[1]", spec.workgroup[1]]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`internal: matmul ${name} must be a positive integer, got ${v}`);
  }
  const split = spec.splitK ?? 1;
  if (!Number.isInteger(split) || split < 1) throw new Error(`internal: matmul splitK must be a positive integer, got ${split}`);
  if (spec.subgroups && (spec.workgroup[1] !== 1 || split > 1)) {
    throw new Error(`internal: a matmul broadcasting A across the subgroup needs one row of threads and no split-K`);
  }
  if (spec.workgroup[0] * spec.workgroup[1] * split > MAX_INVOCATIONS) {
    throw new Error(`internal: matmul workgroup ${spec.workgroup.join("x")}x${split} exceeds ${MAX_INVOCATIONS} invocations`);
  }
  if (split > 1 && split * spec.workgroup[0] * spec.workgroup[1] * spec.tileM * spec.tileN * 4 > MAX_WORKGROUP_BYTES) {
    throw new Error(`internal: matmul split-K partial sums exceed ${MAX_WORKGROUP_BYTES} bytes of workgroup memory`);
  }
  const unroll = spec.kUnroll ?? 1;
  if (!Number.isInteger(unroll) || unroll < 1) throw new Error(`internal: matmul kUnroll must be a positive integer, got ${unroll}`);
  const extras = spec.epilogue?.extraInputs ?? 0;
  if (!Number.isInteger(extras) || extras < 0) throw new Error(`internal: matmul epilogue extraInputs must be >= 0, got ${extras}`);
  const largest = Math.max(spec.batch * spec.m * spec.k, spec.batch * spec.k * spec.n, spec.batch * spec.m * spec.n);
  if (largest >= 2 ** 32) throw new Error(`internal: matmul operand of ${largest} elements overflows u32 indices`);
}

/** `min(v, size - 1) * stride` as WGSL, simplified for size 1 and stride 1. */
function clampTimes(v: string, size: number, stride: number): string {
  if (size === 1) return "0u";
  const clamped = `min(${v}, ${size - 1}u)`;
  return stride === 1 ? clamped : `${clamped} * ${stride}u`;
}

/** ` + k * stride` as WGSL, for the k expression `at`. */
function timesK(at: string, stride: number): string {
  return stride === 1 ? ` + ${at}` : ` + ${at} * ${stride}u`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

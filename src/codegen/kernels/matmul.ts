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

/** The WebGPU default for `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS_PER_DIM = 65535;
/** The WebGPU default for `maxComputeInvocationsPerWorkgroup`. */
const MAX_INVOCATIONS = 256;

/** WGSL for one matmul specialised to `spec`, and the grid to dispatch it with. */
export function matmulKernel(spec: MatmulSpec): { wgsl: string; workgroups: [number, number, number] } {
  check(spec);
  const { batch, m, n, k, transA, transB, tileM, tileN } = spec;
  const [wx, wy] = spec.workgroup;
  const extras = spec.epilogue?.extraInputs ?? 0;

  const tilesX = Math.ceil(n / (tileN * wx));
  const tilesY = Math.ceil(m / (tileM * wy));
  const grid = dispatchGrid(tilesX, tilesY, batch);
  const natural = grid[0] === tilesX && grid[1] === tilesY && grid[2] === batch;

  const u = (v: number) => `${v}u`;
  const rows = range(tileM);
  const cols = range(tileN);
  // Strides of A' and B' along (row or column, k) in their storage.
  const aRow = transA ? 1 : k;
  const aK = transA ? m : 1;
  const bCol = transB ? k : 1;
  const bK = transB ? 1 : n;

  const lines: string[] = [];
  lines.push(
    `// matmul: out[${batch}, ${m}, ${n}] = A${transA ? "ᵀ" : ""}[${m}, ${k}] · B${transB ? "ᵀ" : ""}[${k}, ${n}], ` +
      `${tileM}x${tileN} per thread, workgroup ${wx}x${wy}`,
    `@group(0) @binding(0) var<storage, read> mm_a: array<f32>;`,
    `@group(0) @binding(1) var<storage, read> mm_b: array<f32>;`,
  );
  for (let e = 0; e < extras; e++) lines.push(`@group(0) @binding(${2 + e}) var<storage, read> e${e}: array<f32>;`);
  lines.push(`@group(0) @binding(${2 + extras}) var<storage, read_write> out: array<f32>;`, "");
  if (spec.epilogue) lines.push(spec.epilogue.fn.trimEnd(), "");

  lines.push(
    `@compute @workgroup_size(${wx}, ${wy})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {`,
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
  lines.push(
    `  let row0 = tile_y * ${u(tileM * wy)} + lid.y;`,
    `  let col0 = tile_x * ${u(tileN * wx)} + lid.x;`,
    `  if (row0 >= ${u(m)} || col0 >= ${u(n)}) { return; }`,
  );
  for (const r of rows.slice(1)) lines.push(`  let row${r} = row0 + ${u(r * wy)};`);
  for (const c of cols.slice(1)) lines.push(`  let col${c} = col0 + ${u(c * wx)};`);
  // Offsets of each row of A' and each column of B' at k = 0, clamped into the matrix.
  lines.push(`  let a_base = b * ${u(spec.batchStrideA ?? m * k)};`, `  let b_base = b * ${u(spec.batchStrideB ?? k * n)};`);
  for (const r of rows) lines.push(`  let a_off${r} = a_base + ${clampTimes(`row${r}`, m, aRow)};`);
  for (const c of cols) lines.push(`  let b_off${c} = b_base + ${clampTimes(`col${c}`, n, bCol)};`);
  for (const r of rows) for (const c of cols) lines.push(`  var acc${r}_${c} = 0.0;`);
  lines.push(`  for (var kk = 0u; kk < ${u(k)}; kk++) {`);
  for (const r of rows) lines.push(`    let a${r} = mm_a[a_off${r}${timesK(aK)}];`);
  for (const c of cols) lines.push(`    let b${c} = mm_b[b_off${c}${timesK(bK)}];`);
  for (const r of rows) for (const c of cols) lines.push(`    acc${r}_${c} += a${r} * b${c};`);
  lines.push(`  }`, `  let o_base = b * ${u(m * n)};`);
  for (const r of rows) {
    for (const c of cols) {
      const guard = [r > 0 ? `row${r} < ${u(m)}` : "", c > 0 ? `col${c} < ${u(n)}` : ""].filter(Boolean).join(" && ");
      const value = spec.epilogue ? `epilogue(acc${r}_${c}, b, row${r}, col${c})` : `acc${r}_${c}`;
      const store = `out[o_base + row${r} * ${u(n)} + col${c}] = ${value};`;
      lines.push(guard ? `  if (${guard}) { ${store} }` : `  ${store}`);
    }
  }
  lines.push(`}`, "");
  return { wgsl: lines.join("\n"), workgroups: grid };
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
  if (spec.workgroup[0] * spec.workgroup[1] > MAX_INVOCATIONS) {
    throw new Error(`internal: matmul workgroup ${spec.workgroup.join("x")} exceeds ${MAX_INVOCATIONS} invocations`);
  }
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

/** ` + kk * stride` as WGSL. */
function timesK(stride: number): string {
  return stride === 1 ? " + kk" : ` + kk * ${stride}u`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

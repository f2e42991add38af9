/**
 * Which matmul template parameters (tile, workgroup, vector width, k unroll, split-K) a matmul
 * gets: shapes fall in coarse shape classes; each adapter kind has a built-in table of choices
 * per class, and the tuner (matmul-tune.ts) can replace them by timing a few candidates on the
 * adapter itself. Pure data and functions: no device here.
 */
import type { MatmulSpec } from "./kernels/matmul.js";

/** The template parameters of a matmul, without its shapes. */
export type MatmulParams = Pick<MatmulSpec, "tileM" | "tileN" | "workgroup" | "kUnroll" | "vector" | "splitK" | "subgroups">;

/** The shapes a choice depends on. */
export type MatmulShape = Pick<MatmulSpec, "batch" | "m" | "n" | "k" | "transA" | "transB">;

/** Picks parameters for a shape (deterministic: the same shape gets the same choice). */
export type MatmulChooser = (shape: MatmulShape) => MatmulParams;

/** Adapter kinds with their own built-in tables. */
export type AdapterKind = "llvmpipe" | "gpu";

/**
 * Matmuls with fewer multiply-adds than this are never tuned: timing candidates costs a compile
 * each (seconds on llvmpipe), paid back only by matmuls of several milliseconds (the MLP step's
 * 128 x 784 x 256 ones, not its 128 x 256 x 256 ones).
 */
export const TUNE_MIN_MACS = 1 << 24;

/**
 * Matmuls with fewer multiply-adds than this (class `micro`) run in a fraction of a millisecond:
 * what counts for them is how fast their kernel compiles (the first step waits for it).
 */
export const MICRO_MACS = 1 << 20;

/** Whether a class is ever tuned (those below {@link TUNE_MIN_MACS} are not). */
export function tunedClass(cls: string): boolean {
  return cls !== "tiny" && cls !== "micro";
}

/**
 * The shape class of a matmul: each of m, n, k as `s` (at most 256, a batch of rows or a hidden
 * layer) or `l` (larger), then the transposes, e.g. `s.l.l/TN`; matmuls below
 * {@link TUNE_MIN_MACS} are all `tiny`, and those below {@link MICRO_MACS} `micro`. Coarse on purpose: every class is tuned by compiling
 * candidates, which costs seconds on a software adapter.
 */
export function shapeClass(s: MatmulShape): string {
  const macs = s.batch * s.m * s.n * s.k;
  if (macs < MICRO_MACS) return "micro";
  if (macs < TUNE_MIN_MACS) return "tiny";
  const size = (v: number) => (v <= 256 ? "s" : "l");
  return `${size(s.m)}.${size(s.n)}.${size(s.k)}/${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}`;
}

/** llvmpipe (software Vulkan through LLVM) and other software rasterisers, or a real GPU. */
export function adapterKind(adapterName: string): AdapterKind {
  return /llvmpipe|lavapipe|swiftshader|software|warp/i.test(adapterName) ? "llvmpipe" : "gpu";
}

const REG4X4: MatmulParams = { tileM: 4, tileN: 4, workgroup: [8, 8] };
/** 8x8 blocks on one row of 16 threads: A's reads are uniform across the workgroup (see matmul.ts). */
const ROW8X8: MatmulParams = { tileM: 8, tileN: 8, workgroup: [16, 1] };

/**
 * The built-in choices when no timing was made, by adapter kind: `default` for every class not
 * listed. llvmpipe runs a workgroup per CPU thread, 8 invocations at a time in SIMD lanes, so what
 * counts there is the work per invocation, not occupancy: 4x4 register blocks without workgroup
 * memory (barriers are slow there), and for large matmuls 8x8 blocks on a row of threads. A real GPU needs enough threads in flight: skinny outputs
 * split k over 4 slices of a workgroup.
 */
export const DEFAULT_MATMUL_TABLES: Record<AdapterKind, Record<string, MatmulParams>> = {
  llvmpipe: {
    default: REG4X4,
    // NOTE: measured at 1024³, interleaved, load 9-12: median 799-845 ms against 4x4/8x8's 1616.
    // It compiles slower (2-4 s at the first dispatch against 2-3), paid back by large matmuls only.
    "l.l.l/NN": ROW8X8,
    "l.l.l/NT": ROW8X8,
    "l.l.l/TN": ROW8X8,
    "l.l.l/TT": ROW8X8,
    // NOTE: a weight gradient xᵀ·g of a batch of 128 (784 x 256 x 128): 23 ms against 4x4/8x8's
    // 62 ms when tuned at load 10 (first dispatch 4.4 s against 1.1 s).
    "l.s.s/TN": { tileM: 8, tileN: 8, workgroup: [8, 1] },
  },
  gpu: {
    default: { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4 },
    "s.s.l/NN": { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4, splitK: 4 },
    "s.s.l/NT": { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4, splitK: 4 },
    "s.s.l/TN": { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4, splitK: 4 },
    "s.s.l/TT": { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4, splitK: 4 },
  },
};

/** 16 rows by 2 columns of 8 threads, A broadcast across the subgroup: few reads and a quick compile. */
const SG16X2: MatmulParams = { tileM: 16, tileN: 2, workgroup: [8, 1], subgroups: true };
/** 16 rows by 4 columns of 8 threads, A broadcast across the subgroup: fewer reads per multiply-add for larger matmuls. */
const SG16X4: MatmulParams = { tileM: 16, tileN: 4, workgroup: [8, 1], subgroups: true };

/**
 * The built-in choices on a device with subgroups of at least 8 invocations (takesSubgroupMatmuls in matmul-tune.ts),
 * by adapter kind, where they differ from DEFAULT_MATMUL_TABLES. On llvmpipe (Mesa 25.0) every
 * storage read at a non-constant index is a loop over the 8 SIMD lanes with a bounds check and a
 * branch per lane, so reads bound a matmul: broadcasting A's rows from one read per subgroup cuts a
 * 16x4 block to 2 + 4 reads per k, and compiles faster than 4x4 blocks on 8x8 threads (8 reads).
 */
export const SUBGROUP_MATMUL_TABLES: Record<AdapterKind, Record<string, MatmulParams>> = {
  llvmpipe: {
    // NOTE: the MLP step's 128x256x256 matmuls, alone with their epilogues, interleaved at load
    // 8-11 (bench/mlp-matmuls.ts): 1.4-3.8 CPU-ms against 4.0-7.3 for 4x4 on 8x8 threads; first
    // dispatch 150-240 CPU-ms against 260-290.
    default: SG16X2,
    // NOTE: the MLP step's 10-wide last layer (128x10x256 and its gradients): first dispatch
    // 190-210 CPU-ms against 235-330 for 16x2 and 270-330 for 4x4 on 8x8 threads, run times alike
    // (0.2-0.5 ms).
    micro: { tileM: 8, tileN: 2, workgroup: [8, 1], subgroups: true },
    // NOTE: 128x256x784 (first layer forward): 4.0-6.7 CPU-ms against 12-19 for 4x4 on 8x8 threads
    // and 7-13 for 8x8 on 8x1; first dispatch 310-400 CPU-ms against 250-430 and 670-900.
    // 784x256x128 (first layer weight gradient): 6.2-8.2 CPU-ms against 10-13 for 8x8 on 8x1.
    // The other classes with a large side take the same block (fewer reads per multiply-add than
    // 16x2), not timed one by one.
    ...eachClass(["s.s.l", "s.l.s", "s.l.l", "l.s.s", "l.s.l", "l.l.s"], SG16X4),
    // NOTE: 1024³ at load 8-9: 233 CPU-ms against 413 for 8x8 on 16x1 (the choice without
    // subgroups) and 310 for 16x4; first dispatch 910 CPU-ms against 1134.
    ...eachClass(["l.l.l"], { tileM: 32, tileN: 4, workgroup: [8, 1], subgroups: true }),
  },
  gpu: {},
};

/** The same choice for each size class with each pair of transposes. */
function eachClass(sizes: string[], p: MatmulParams): Record<string, MatmulParams> {
  const out: Record<string, MatmulParams> = {};
  for (const size of sizes) for (const t of ["NN", "NT", "TN", "TT"]) out[`${size}/${t}`] = p;
  return out;
}

/**
 * The 2-4 parameter sets the tuner times for a class on an adapter kind, the built-in choice
 * first (so a tuned choice is never worse than the default, up to timing noise).
 */
export function matmulCandidates(kind: AdapterKind, cls: string, subgroups = false): MatmulParams[] {
  const base = builtinChoice(kind, cls, subgroups);
  const skinny = cls.startsWith("s.s.l");
  const others: MatmulParams[] =
    kind === "llvmpipe" && subgroups
      ? // NOTE: the subgroup blocks read least; 8x8 on 8x1 is the best without them.
        [SG16X4, { tileM: 32, tileN: 4, workgroup: [8, 1], subgroups: true }, { tileM: 8, tileN: 8, workgroup: [8, 1] }]
      : kind === "llvmpipe"
      ? // NOTE: at most three candidates on llvmpipe: each costs a compile (seconds) when a class
        // is first met. No 8x8 blocks on 8x8 workgroups: their first dispatch took 8-10 s.
        skinny
        ? [
            { tileM: 2, tileN: 4, workgroup: [8, 8], vector: 4 },
            { tileM: 4, tileN: 4, workgroup: [8, 8], splitK: 2 },
          ]
        : [REG4X4, { tileM: 8, tileN: 8, workgroup: [8, 1] }, { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4 }]
      : [
          { tileM: 4, tileN: 4, workgroup: [8, 8], vector: 4, splitK: 4 },
          { tileM: 2, tileN: 2, workgroup: [16, 16] },
          { tileM: 8, tileN: 8, workgroup: [8, 8], vector: 4 },
        ];
  const key = (p: MatmulParams) => JSON.stringify(normalParams(p));
  const seen = new Set([key(base)]);
  const out = [base];
  for (const p of others) {
    if (seen.has(key(p))) continue;
    seen.add(key(p));
    out.push(p);
  }
  return out.slice(0, kind === "llvmpipe" ? 3 : 4);
}

/** The table's choice for a class, or its default. */
export function tableChoice(table: Record<string, MatmulParams>, cls: string): MatmulParams {
  const p = table[cls] ?? table["default"];
  if (!p) throw new Error(`internal: matmul table without a default`);
  return p;
}

/** The built-in choice for a class on an adapter kind, with or without subgroups. */
export function builtinChoice(kind: AdapterKind, cls: string, subgroups = false): MatmulParams {
  const sg = subgroups ? SUBGROUP_MATMUL_TABLES[kind] : {};
  return sg[cls] ?? sg["default"] ?? tableChoice(DEFAULT_MATMUL_TABLES[kind], cls);
}

/**
 * The built-in chooser of an adapter kind; `subgroups` only for a device whose subgroups have at
 * least 8 invocations (takesSubgroupMatmuls in matmul-tune.ts): its kernels do not compile elsewhere.
 */
export function defaultMatmulChooser(kind: AdapterKind, subgroups = false): MatmulChooser {
  return (shape) => builtinChoice(kind, shapeClass(shape), subgroups);
}

/** Parameters with defaults spelled out (for comparing and storing choices). */
export function normalParams(p: MatmulParams): Required<MatmulParams> {
  return {
    tileM: p.tileM,
    tileN: p.tileN,
    workgroup: [p.workgroup[0], p.workgroup[1]],
    kUnroll: p.kUnroll ?? 1,
    vector: p.vector ?? 1,
    splitK: p.splitK ?? 1,
    subgroups: p.subgroups ?? false,
  };
}

/** A short name for a parameter set, e.g. `4x4/8x8/v4/k2`. */
export function paramsName(p: MatmulParams): string {
  const q = normalParams(p);
  return `${q.tileM}x${q.tileN}/${q.workgroup.join("x")}${q.vector > 1 ? `/v${q.vector}` : ""}${q.kUnroll > 1 ? `/u${q.kUnroll}` : ""}${q.splitK > 1 ? `/k${q.splitK}` : ""}${q.subgroups ? "/sg" : ""}`;
}

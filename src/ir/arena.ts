import type { Plan, PlanArena, PlanVariant } from "./plan.js";
import { concreteShape, numel, type DimBindings } from "./types.js";

/**
 * The static memory plan of one variant: which temporaries share a storage buffer (a slot).
 *   1. Every buffer resolves to its root (a reshape's alias shares its input's memory).
 *   2. Roots that must survive the step keep a buffer of their own: args (inputs, labels, hypers,
 *      params, state), the loss and the outputs (read back after the step), and the values of
 *      `updates` (copied onto their params after the last kernel). Every other root is a temporary:
 *      a kernel writes it, later kernels read it.
 *   3. A temporary is live from the first to the last kernel that binds it (itself or an alias),
 *      both included. Two temporaries share a slot only when their intervals are disjoint, so a
 *      kernel's inputs and output are never in one slot: WebGPU refuses a buffer bound read-only
 *      and writable in one dispatch, and an in-place kernel would read what it overwrote.
 *   4. Two greedy assignments, the smaller kept: in order of first use, each into the smallest free
 *      slot big enough (best fit), else the largest free one grown, else a new slot; and largest
 *      first, each into the first slot none of whose tenants it meets (small graphs only). A slot is
 *      as big as its largest tenant (whole buffers, no offsets: nothing to align, nothing to overlap).
 * This relies on every kernel writing all of its output each step from its inputs alone (never
 * accumulating into what the buffer held, never counting on a zeroed buffer): a kernel that did
 * would need its output kept out of the arena.
 * Plain data in and out, so the compiler stores it in the Plan and a runtime given an older Plan
 * without one computes the same.
 */
export function arenaOf(plan: Pick<Plan, "buffers" | "loss" | "outputs" | "updates">, variant: Pick<PlanVariant, "dims" | "kernels">): PlanArena {
  const tenants = tenantsOf(plan, variant);
  const b = byStart(tenants, plan.buffers.length);
  // NOTE: largest-first tries every slot for each tenant (tenants × slots), so big graphs skip it.
  if (tenants.length > LARGEST_FIRST_UP_TO) return b;
  const a = bySize(tenants, plan.buffers.length);
  return total(a) <= total(b) ? a : b;
}

/** Most temporaries for which {@link arenaOf} also tries largest-first. */
const LARGEST_FIRST_UP_TO = 5000;

/** A temporary's root buffer, bytes and live interval (kernel indices, both ends included). */
interface Tenant {
  root: number;
  bytes: number;
  first: number;
  last: number;
}

/** Steps 1-3 of {@link arenaOf}: the temporaries and their live intervals. */
function tenantsOf(plan: Pick<Plan, "buffers" | "loss" | "outputs" | "updates">, variant: Pick<PlanVariant, "dims" | "kernels">): Tenant[] {
  const roots = plan.buffers.map((_, i) => rootOf(plan, i));
  const args = new Set<number>();
  plan.buffers.forEach((b, i) => {
    if (b.role !== undefined) args.add(roots[i]!);
  });
  const end = variant.kernels.length;
  const toEnd = new Set<number>([...(plan.loss !== undefined ? [plan.loss] : []), ...plan.outputs.map((o) => o.buffer), ...plan.updates.map((u) => u.value)].map((i) => roots[i]!));
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  variant.kernels.forEach((k, at) => {
    for (const b of k.bindings) {
      const r = roots[b]!;
      if (args.has(r)) continue;
      if (!first.has(r)) first.set(r, at);
      last.set(r, toEnd.has(r) ? end : at);
    }
  });
  return [...first.keys()].map((root) => ({ root, bytes: bufferBytes(plan, root, variant.dims), first: first.get(root)!, last: last.get(root)! }));
}

/** Largest first, each into the first slot none of whose tenants it meets (slots never grow). */
function bySize(tenants: Tenant[], buffers: number): PlanArena {
  const slotOf = new Array<number>(buffers).fill(-1);
  // NOTE: a slot's tenants are disjoint intervals kept in order, so ordered by both ends: the one
  // tenant that could meet t is the first to end at or after t starts (a binary search).
  const slots: { bytes: number; tenants: Tenant[] }[] = [];
  const sorted = [...tenants].sort((a, b) => b.bytes - a.bytes || a.first - b.first || a.root - b.root);
  for (const t of sorted) {
    let pick = -1;
    let at = 0;
    for (let i = 0; i < slots.length && pick < 0; i++) {
      const ts = slots[i]!.tenants;
      // NOTE: the slot's last tenant settles most cases without the search (in a training step most
      // slots hold a value kept to the end): t comes after it, or meets it (then t meets the slot).
      const final = ts[ts.length - 1]!;
      if (final.last < t.first) {
        pick = i;
        at = ts.length;
        break;
      }
      if (final.first <= t.last) continue;
      // NOTE: plain lets, not `[lo, hi] = [0, n]`: unoptimised code builds an array and iterates it.
      let lo = 0;
      let hi = ts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ts[mid]!.last < t.first) lo = mid + 1;
        else hi = mid;
      }
      if (lo === ts.length || ts[lo]!.first > t.last) {
        pick = i;
        at = lo;
      }
    }
    if (pick < 0) pick = slots.push({ bytes: t.bytes, tenants: [] }) - 1;
    slots[pick]!.tenants.splice(at, 0, t);
    slotOf[t.root] = pick;
  }
  return { slots: slots.map((s) => s.bytes), slotOf };
}

/**
 * In order of first use: free the slots whose tenants died, take the smallest free slot big
 * enough (best fit), else grow the largest free one, else open a slot. O(n log n) but for the
 * free list's splices (a memmove), so it serves graphs of many thousand kernels.
 */
function byStart(tenants: Tenant[], buffers: number): PlanArena {
  const slotOf = new Array<number>(buffers).fill(-1);
  const slots: number[] = [];
  // NOTE: a tenant that died before t started also started before it, so it has a slot already:
  // walking the tenants in order of death alongside is enough to free slots, no heap needed.
  const byDeath = [...tenants].sort((a, b) => a.last - b.last);
  let dead = 0;
  /** Free slots by size, then index (the best fit is the first big enough). */
  const free: number[] = [];
  const firstFit = (bytes: number, index: number): number => {
    let lo = 0;
    let hi = free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = free[mid]!;
      if (slots[s]! < bytes || (slots[s] === bytes && s < index)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (const t of [...tenants].sort((a, b) => a.first - b.first || a.root - b.root)) {
    for (; dead < byDeath.length && byDeath[dead]!.last < t.first; dead++) {
      const s = slotOf[byDeath[dead]!.root]!;
      free.splice(firstFit(slots[s]!, s), 0, s);
    }
    const at = firstFit(t.bytes, -1);
    let pick: number;
    if (at < free.length) pick = free.splice(at, 1)[0]!;
    else if (free.length) pick = free.pop()!;
    else pick = slots.push(0) - 1;
    slots[pick] = Math.max(slots[pick]!, t.bytes);
    slotOf[t.root] = pick;
  }
  return { slots, slotOf };
}

/** The largest sum of bytes of tenants live at one kernel (or after the last, for kept values). */
function liveAtPeak(tenants: Tenant[], end: number): number {
  const delta = new Array<number>(end + 2).fill(0);
  for (const t of tenants) {
    delta[t.first]! += t.bytes;
    delta[t.last + 1]! -= t.bytes;
  }
  let live = 0;
  let peak = 0;
  for (const d of delta) peak = Math.max(peak, (live += d));
  return peak;
}

/** Bytes of an arena's slots. */
function total(a: PlanArena): number {
  return a.slots.reduce((x, y) => x + y, 0);
}

/** A step's memory at one dims binding, in bytes, by what it holds. */
export interface StepMemory {
  params: number;
  /** Optimizer moments, batchnorm statistics. */
  state: number;
  /** Inputs, labels and hyper scalars. */
  data: number;
  /** The slots of everything kernels write (activations, gradients, the loss, updated values). */
  temporaries: number;
  /** The same with a buffer each (no reuse). */
  temporariesUnshared: number;
  /** The largest sum of temporaries live at one kernel: what slots with offsets could reach at best. */
  liveAtPeak: number;
  /** Everything: params + state + data + temporaries. */
  total: number;
  /** Everything without reuse (what a runner without the arena allocates). */
  totalUnshared: number;
}

/** The bytes of a step's buffers at a variant, by role, with and without the arena's reuse. */
export function stepMemory(plan: Pick<Plan, "buffers" | "loss" | "outputs" | "updates">, variant: Pick<PlanVariant, "dims" | "kernels" | "arena">): StepMemory {
  const arena = variant.arena ?? arenaOf(plan, variant);
  const m = { params: 0, state: 0, data: 0, temporaries: 0, temporariesUnshared: 0 };
  plan.buffers.forEach((b, i) => {
    if (b.alias !== undefined) return;
    const bytes = bufferBytes(plan, i, variant.dims);
    if (b.role === "param") m.params += bytes;
    else if (b.role === "state") m.state += bytes;
    else if (b.role !== undefined) m.data += bytes;
    else m.temporariesUnshared += bytes;
  });
  m.temporaries = total(arena);
  const fixed = m.params + m.state + m.data;
  return { ...m, liveAtPeak: liveAtPeak(tenantsOf(plan, variant), variant.kernels.length), total: fixed + m.temporaries, totalUnshared: fixed + m.temporariesUnshared };
}

/** Bytes of plan buffer `i` at `dims` (at least 4: WebGPU has no empty bindings). */
export function bufferBytes(plan: Pick<Plan, "buffers">, i: number, dims: DimBindings): number {
  return Math.max(4, numel(concreteShape(plan.buffers[i]!.shape, dims)) * 4);
}

/**
 * A step's memory in words: `41.2 MB (params 0.9 MB, state 1.8 MB, batch 0.2 MB, activations and
 * temporaries 38.3 MB; 62.9 MB without reuse)`.
 */
export function describeStepMemory(m: StepMemory): string {
  const parts = [`params ${formatBytes(m.params)}`, ...(m.state ? [`state ${formatBytes(m.state)}`] : []), `inputs ${formatBytes(m.data)}`, `activations and temporaries ${formatBytes(m.temporaries)}`];
  return `${formatBytes(m.total)} (${parts.join(", ")}; ${formatBytes(m.totalUnshared)} without reuse)`;
}

/** `1.5 MB` (decimal units, one decimal under 100). */
export function formatBytes(n: number): string {
  const [unit, div] = n >= 1e9 ? ["GB", 1e9] : n >= 1e6 ? ["MB", 1e6] : n >= 1e3 ? ["KB", 1e3] : ["B", 1];
  const x = n / div;
  return `${unit === "B" ? x : x.toFixed(x < 100 ? 1 : 0)} ${unit}`;
}

/** The buffer whose memory plan buffer `i` shares (itself unless an alias). */
function rootOf(plan: Pick<Plan, "buffers">, i: number): number {
  let at = i;
  while (plan.buffers[at]!.alias !== undefined) at = plan.buffers[at]!.alias!;
  return at;
}

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { compile } from "../src/compile.js";
import { arenaOf, bufferBytes, stepMemory } from "../src/ir/arena.js";
import { batchBindings, planFromJson, planToJson, type Plan, type PlanBuffer, type PlanVariant } from "../src/ir/plan.js";

// The arena's invariants, checked against a liveness computed here from the kernels' bindings
// alone, on every example's training plan at two batch sizes, and on a hand-made plan.

const DIR = join(import.meta.dirname, "..", "examples");
const files = readdirSync(DIR).filter((f) => f.endsWith(".net")).sort();

const rootOf = (plan: Plan, i: number): number => (plan.buffers[i]!.alias === undefined ? i : rootOf(plan, plan.buffers[i]!.alias!));

/** Every root's live interval [first, last] in kernel indices; read-after-the-step values live to the end. */
function intervals(plan: Plan, v: PlanVariant): Map<number, [number, number]> {
  const end = new Set([...(plan.loss !== undefined ? [plan.loss] : []), ...plan.outputs.map((o) => o.buffer), ...plan.updates.map((u) => u.value)].map((i) => rootOf(plan, i)));
  const live = new Map<number, [number, number]>();
  v.kernels.forEach((k, at) => {
    for (const b of k.bindings) {
      const r = rootOf(plan, b);
      const was = live.get(r);
      live.set(r, [was?.[0] ?? at, end.has(r) ? v.kernels.length : at]);
    }
  });
  return live;
}

function checkArena(plan: Plan, v: PlanVariant, what: string): void {
  const arena = v.arena!;
  expect(arena, what).toBeDefined();
  expect(arena.slotOf.length, what).toBe(plan.buffers.length);
  const live = intervals(plan, v);
  const tenants = new Map<number, number[]>();
  plan.buffers.forEach((b, i) => {
    const slot = arena.slotOf[i]!;
    // Args (inputs, labels, hypers, params, state) and aliases never take a slot of their own.
    if (b.role !== undefined || b.alias !== undefined) return expect(slot, `${what}: ${b.label}`).toBe(-1);
    // Every kernel output is in the arena, in a slot big enough for it.
    expect(slot, `${what}: ${b.label}`).toBeGreaterThanOrEqual(0);
    expect(arena.slots[slot]!, `${what}: ${b.label}`).toBeGreaterThanOrEqual(bufferBytes(plan, i, v.dims));
    tenants.set(slot, [...(tenants.get(slot) ?? []), i]);
  });
  // No two tenants of a slot are live at one kernel (a kernel's inputs and output included).
  for (const [slot, ts] of tenants)
    for (const a of ts)
      for (const b of ts) {
        if (a >= b) continue;
        const [fa, la] = live.get(a)!;
        const [fb, lb] = live.get(b)!;
        expect(la < fb || lb < fa, `${what}: ${plan.buffers[a]!.label} [${fa}, ${la}] and ${plan.buffers[b]!.label} [${fb}, ${lb}] share slot ${slot}`).toBe(true);
      }
  // And so no kernel binds one slot twice unless it is the same value.
  for (const k of v.kernels) {
    const seen = new Map<number, number>();
    for (const b of k.bindings) {
      const r = rootOf(plan, b);
      const slot = arena.slotOf[r]!;
      if (slot < 0) continue;
      expect(seen.get(slot) ?? r, `${what}: ${k.name} binds slot ${slot} for two values`).toBe(r);
      seen.set(slot, r);
    }
  }
}

describe("the arena of every example's training step", () => {
  for (const file of files)
    it(file, () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path);
      expect(c.diagnostics.render()).toBe("");
      const plan = planOf(c.graph!, { train: c.train, batches: [2, 16] });
      const [small, big] = plan.variants;
      checkArena(plan, small!, `${file} at 2 rows`);
      checkArena(plan, big!, `${file} at 16 rows`);
      // Sizes follow the variant's dims: more rows, more bytes, and never more than without reuse.
      const [ms, mb] = [stepMemory(plan, small!), stepMemory(plan, big!)];
      expect(mb.temporaries).toBeGreaterThan(ms.temporaries);
      for (const m of [ms, mb]) {
        expect(m.total).toBeLessThanOrEqual(m.totalUnshared);
        expect(m.temporaries).toBeGreaterThanOrEqual(m.liveAtPeak);
        expect(m.total).toBe(m.params + m.state + m.data + m.temporaries);
      }
    });
});

/** A plan of `n` buffers of `sizes` floats, kernels given as [inputs..., output]. */
function handPlan(sizes: number[], kernels: number[][], extra: Partial<Plan> = {}, roles: Record<number, PlanBuffer["role"]> = {}): { plan: Plan; variant: PlanVariant } {
  const variant: PlanVariant = { dims: {}, kernels: kernels.map((bindings, i) => ({ name: `k${i}`, shader: 0, entry: "main", bindings, workgroups: [1, 1, 1] })) };
  const plan: Plan = {
    format: "netc-plan-1",
    name: "hand",
    mode: "infer",
    batchDims: [],
    inputs: [],
    labels: [],
    hypers: [],
    params: [],
    outputs: [],
    updates: [],
    buffers: sizes.map((n, i) => ({ value: i, shape: [n], label: `b${i}`, ...(roles[i] ? { role: roles[i] } : {}) })),
    shaders: [""],
    variants: [variant],
    graph: { name: "hand", args: [], nodes: [], outputs: [] } as unknown as Plan["graph"],
    ...extra,
  };
  return { plan, variant };
}

describe("arenaOf on a hand-made schedule", () => {
  it("a chain x -> a -> b -> c -> d needs two buffers, never a kernel's input for its output", () => {
    const { plan, variant } = handPlan([100, 100, 100, 100, 100], [[0, 1], [1, 2], [2, 3], [3, 4]], { outputs: [{ name: "d", dtype: "f32", shape: [100], buffer: 4 }] }, { 0: "input" });
    const a = arenaOf(plan, variant);
    expect(a.slotOf[0]).toBe(-1);
    expect(a.slots).toEqual([400, 400]);
    expect(a.slotOf[1]).toBe(a.slotOf[3]);
    expect(a.slotOf[2]).toBe(a.slotOf[4]);
    expect(a.slotOf[1]).not.toBe(a.slotOf[2]);
  });

  it("a value read after the step (the loss, an update's value) keeps its slot to the end", () => {
    // k0: x -> a; k1: a -> u (update of p); k2: a -> t; k3: t -> s. Without the rule, s could take u's slot.
    const { plan, variant } = handPlan(
      [10, 10, 10, 10, 10, 10],
      [[0, 1], [1, 2], [1, 4], [4, 5]],
      { updates: [{ param: 3, value: 2 }] },
      { 0: "input", 3: "param" },
    );
    const a = arenaOf(plan, variant);
    expect(a.slotOf[3]).toBe(-1);
    for (const other of [1, 4, 5]) expect(a.slotOf[other]).not.toBe(a.slotOf[2]);
  });

  it("a slot is as big as its largest tenant; an alias follows its root", () => {
    // k0: x -> big; reshape of big; k1: reshape -> small; k2: small -> out2 (out2 may reuse big's slot).
    const { plan, variant } = handPlan([4, 1000, 1000, 10, 500], [[0, 1], [2, 3], [3, 4]], { outputs: [{ name: "o", dtype: "f32", shape: [500], buffer: 4 }] }, { 0: "input" });
    plan.buffers[2]!.alias = 1;
    const a = arenaOf(plan, variant);
    expect(a.slotOf[2]).toBe(-1);
    expect(a.slotOf[4]).toBe(a.slotOf[1]);
    expect(a.slots[a.slotOf[1]!]).toBe(4000);
    expect(a.slots.reduce((x, y) => x + y)).toBe(4040);
  });
});

describe("plans made before the arena", () => {
  it("still load, and the runner's arena for them is the one the compiler stores", () => {
    const c = compile(readFileSync(join(DIR, "iris.net"), "utf8"), "iris.net");
    const plan = planOf(c.graph!, { train: c.train, batches: [8] });
    const old = JSON.parse(planToJson(plan)) as Plan;
    for (const v of old.variants) delete v.arena;
    const loaded = planFromJson(JSON.stringify(old));
    expect(loaded.variants[0]!.arena).toBeUndefined();
    expect(arenaOf(loaded, loaded.variants[0]!)).toEqual(plan.variants[0]!.arena);
    expect(stepMemory(loaded, loaded.variants[0]!)).toEqual(stepMemory(plan, plan.variants[0]!));
    expect(loaded.variants[0]!.dims).toEqual(batchBindings(plan, 8));
  });
});

import { NetcError } from "../base/errors.js";
import { graphFromJson } from "../ir/graph-json.js";
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../ir/plan.js";
import { dimsFor, type Backend } from "./backend.js";
import { CpuRunner } from "./cpu.js";

/** The CPU reference backend: interprets the plan's graph. */
export function cpuBackend(): Backend {
  return {
    kind: "cpu",
    times: { codegen: 0, pipelines: 0 },
    async create(plan, rows, initial, shareWith) {
      if (shareWith && !(shareWith instanceof CpuRunner)) throw new NetcError("a CPU runner can share weights only with a CPU runner (pools of one backend)");
      return new CpuRunner(graphOf(plan), dimsFor(plan, rows), initial, { sharePersistentWith: shareWith, schedule: plan.schedule });
    },
  };
}

const graphs = new WeakMap<Plan, Graph>();

/** The plan's graph for the CPU reference, rebuilt from its JSON once per plan. */
export function graphOf(plan: Plan): Graph {
  let g = graphs.get(plan);
  if (!g) {
    g = graphFromJson(plan.graph);
    graphs.set(plan, g);
  }
  return g;
}

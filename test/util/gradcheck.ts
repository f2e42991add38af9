import { expect } from "vitest";
import type { Graph, Value } from "../../src/ir/graph.js";
import { interpret, type Tensor } from "../../src/ir/interp.js";
import type { DimBindings } from "../../src/ir/types.js";

/**
 * Checks every param's gradient in a differentiated graph against central finite differences
 * of its loss (f64, step 1e-6), element by element; `env` holds every argument's value.
 */
export function expectParamGradients(g: Graph, env: Map<Value, Tensor>, dims: DimBindings, digits = 6): void {
  const run = () => interpret(g, env, { dims, precision: "f64" });
  const out = run();
  for (const { param, grad } of g.grads) expectFiniteDifferences(g, env, dims, param, out.get(grad)!.data, param.arg!.name, digits);
}

/**
 * Checks `analytic`, the loss's gradient with respect to argument `arg`, against central finite
 * differences of the loss (f64, step 1e-6), element by element.
 */
export function expectFiniteDifferences(g: Graph, env: Map<Value, Tensor>, dims: DimBindings, arg: Value, analytic: ArrayLike<number>, label: string, digits = 6): void {
  const loss = () => interpret(g, env, { dims, precision: "f64" }).get(g.loss!)!.data[0]!;
  const data = env.get(arg)!.data;
  for (let k = 0; k < data.length; k++) {
    const keep = data[k]!;
    data[k] = keep + 1e-6;
    const up = loss();
    data[k] = keep - 1e-6;
    const down = loss();
    data[k] = keep;
    expect(analytic[k]!, `${label}[${k}]`).toBeCloseTo((up - down) / 2e-6, digits);
  }
}

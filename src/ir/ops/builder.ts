import type { Span } from "../../base/source.js";
import { NO_ATTRS, type Attrs, type Graph, type Origin, type Value } from "../graph.js";
import type { TensorType } from "../types.js";
import { opDef } from "./registry.js";
import type { GradBuilder, InferCtx } from "./types.js";

/** Builds gradient (or other generated) nodes with types inferred eagerly. */
export class Builder implements GradBuilder {
  constructor(
    readonly graph: Graph,
    public span: Span,
    public origin: Origin,
  ) {}

  /** Shape errors of the op being built; any is a compiler bug. */
  private readonly errors: string[] = [];
  // NOTE: one context for every op built: autodiff and the optimizer build hundreds of thousands.
  private readonly ctx: InferCtx = {
    op: "",
    error: (code, args) => void this.errors.push(`${code} ${JSON.stringify(args)}`),
    unify: (a, b) => (a === b ? a : undefined),
  };

  /** Appends `op(inputs){attrs}`; a shape error here is a compiler bug. */
  op(name: string, inputs: Value[], attrs: Attrs = NO_ATTRS): Value {
    const def = opDef(name);
    this.ctx.op = name;
    const types = new Array<TensorType>(inputs.length);
    for (let i = 0; i < inputs.length; i++) types[i] = inputs[i]!.type;
    const type = def.infer(types, attrs, this.ctx);
    if (!type || this.errors.length) throw new Error(`internal: ${name} built with bad types: ${this.errors.splice(0).join("; ")}`);
    return this.graph.addNode(name, inputs, attrs, type, this.span, this.origin);
  }

  /** A scalar f32 constant. */
  const(value: number): Value {
    return this.op("const", [], { value });
  }
  add(a: Value, b: Value): Value {
    return this.op("add", [a, b]);
  }
  sub(a: Value, b: Value): Value {
    return this.op("sub", [a, b]);
  }
  mul(a: Value, b: Value): Value {
    return this.op("mul", [a, b]);
  }
  div(a: Value, b: Value): Value {
    return this.op("div", [a, b]);
  }
  neg(a: Value): Value {
    return this.op("neg", [a]);
  }
}

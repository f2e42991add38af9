import { opDef } from "../ir/ops/registry.js";
import type { Graph, Value } from "../ir/graph.js";
import type { Dim, TensorType } from "../ir/types.js";

/**
 * Types computed during lowering, for layers that need a shape now (a recurrent layer unrolls
 * over the sequence length). They come from the nodes emitted so far, by the registry's shape
 * rules with a local unifier; errors are left to infer-shapes, which types the whole graph again.
 */
export class EagerTypes {
  /** Each value typed so far (null: could not be typed). */
  private types = new Map<Value, TensorType | null>();
  /** Symbolic dims bound by unification so far. */
  private dims = new Map<string, Dim>();
  /** The nodes before this index (of `scannedNodes`) are typed: each call types only the new ones. */
  private scanned = 0;
  private scannedNodes?: readonly unknown[];

  constructor(private readonly graph: Graph) {}

  /** The type of `v` as far as the nodes emitted so far tell; `undefined` when it cannot be typed. */
  typeOf(v: Value): TensorType | undefined {
    const find = (d: Dim): Dim => {
      while (typeof d === "string" && this.dims.has(d)) d = this.dims.get(d)!;
      return d;
    };
    const resolve = (t: TensorType): TensorType => ({ dtype: t.dtype, shape: t.shape.map(find) });
    if (v.arg) return resolve(v.type);
    if (!this.types.has(v)) {
      // NOTE: nodes are only appended while lowering; rescanning from the first on every call
      // made lowering quadratic (a repeat of 1,000 conv blocks: 80 s in check).
      const nodes = this.graph.nodes;
      if (nodes !== this.scannedNodes) {
        this.scannedNodes = nodes;
        this.scanned = 0;
      }
      for (; this.scanned < nodes.length; this.scanned++) {
        const n = nodes[this.scanned]!;
        if (this.types.has(n.out)) continue;
        const ins = n.inputs.map((i) => (i.arg ? resolve(i.type) : this.types.get(i)));
        let t: TensorType | undefined;
        if (ins.every((x): x is TensorType => !!x)) {
          let ok = true;
          t = opDef(n.op).infer(ins, n.attrs, {
            op: n.op,
            error: () => void (ok = false),
            unify: (a, b) => {
              const x = find(a);
              const y = find(b);
              if (x === y) return x;
              if (typeof x === "string") return this.dims.set(x, y), y;
              if (typeof y === "string") return this.dims.set(y, x), x;
              return undefined;
            },
          });
          if (!ok) t = undefined;
        }
        this.types.set(n.out, t ?? null);
        if (n.out === v) {
          this.scanned++;
          break;
        }
      }
    }
    const t = this.types.get(v);
    return t ? resolve(t) : undefined;
  }
}

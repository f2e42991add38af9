import type { AttributeProto, NodeProto, TensorProto } from "./proto.js";

/**
 * The ONNX graph the exporter writes into: nodes in order, initializers, and unique names. It
 * knows nothing of the netc IR (export.ts maps IR values onto its names).
 */

/** The ONNX element types (TensorProto.DataType codes) an exported model uses. */
export const ELEM = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;

/** One of {@link ELEM}'s codes. */
export type Elem = (typeof ELEM)[keyof typeof ELEM];

/** A node attribute: an int, a list of ints, a string, or a float (wrapped, as ONNX types them apart). */
export type OnnxAttr = number | number[] | string | { float: number };

/** Attributes by name; undefined entries are left out. */
export type OnnxAttrs = Record<string, OnnxAttr | undefined>;

function attribute(name: string, v: OnnxAttr): AttributeProto {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`internal: ONNX int attribute ${name} = ${v}`);
    return { name, type: "INT", i: v };
  }
  if (typeof v === "string") return { name, type: "STRING", s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: "INTS", ints: v };
  return { name, type: "FLOAT", f: v.float };
}

/** Little-endian bytes of f32 values (TensorProto.raw_data). */
function floatBytes(values: ArrayLike<number>): Uint8Array {
  const data = Float32Array.from(values);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds the node list and initializers of one ONNX graph. */
export class OnnxGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  /** The doc string given to nodes as they are added (the IR node's source location). */
  doc = "";

  /** Claims a name that must stay as it is (a graph input, output or param); false if taken. */
  reserve(name: string): boolean {
    if (this.used.has(name)) return false;
    this.used.add(name);
    return true;
  }

  /** A fresh name starting with `base`, unused so far. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Appends `op(inputs){attrs}` writing `out` (fresh when absent); returns the output name. */
  node(op: string, inputs: string[], attrs: OnnxAttrs = {}, out?: string): string {
    const output = out ?? this.fresh(`${op.toLowerCase()}_out`);
    const attribute_ = Object.entries(attrs).flatMap(([k, v]) => (v === undefined ? [] : [attribute(k, v)]));
    this.nodes.push({
      name: this.fresh(`${op}_${this.nodes.length}`),
      opType: op,
      input: inputs,
      output: [output],
      ...(attribute_.length ? { attribute: attribute_ } : {}),
      ...(this.doc ? { docString: this.doc } : {}),
    });
    return output;
  }

  /** An f32 initializer of `dims` named `name` (taken as given: reserve it first). */
  floatTensor(name: string, dims: number[], values: ArrayLike<number>): string {
    this.initializers.push({ name, dims, dataType: ELEM.FLOAT, rawData: floatBytes(values) });
    return name;
  }

  /** A constant f32 tensor (shared by every use of the same values). */
  floats(dims: number[], values: ArrayLike<number>): string {
    const key = `f${dims.join("x")}:${Array.from(values).join(",")}`;
    return this.shared(key, () => this.floatTensor(this.fresh(dims.length ? "const" : `const_${fmt(values[0]!)}`), dims, values));
  }

  /** A scalar f32 constant. */
  scalar(value: number): string {
    return this.floats([], [value]);
  }

  /** A constant 1-D int64 tensor (shapes, axes, starts ...); `scalar` makes it 0-D (one value). */
  ints(values: number[], scalar = false): string {
    const dims = scalar ? [] : [values.length];
    const key = `i${scalar ? "s" : ""}:${values.join(",")}`;
    return this.shared(key, () => {
      const name = this.fresh(scalar ? "int" : "ints");
      this.initializers.push({ name, dims, dataType: ELEM.INT64, int64Data: values });
      return name;
    });
  }

  private shared(key: string, make: () => string): string {
    let name = this.constants.get(key);
    if (name === undefined) {
      name = make();
      this.constants.set(key, name);
    }
    return name;
  }
}

/** A constant's value as part of a readable name (`const_0_5`, `const_m1`). */
function fmt(v: number): string {
  const s = Number.isFinite(v) ? String(Number(v.toPrecision(6))) : v > 0 ? "inf" : v < 0 ? "minf" : "nan";
  return s.replace(/^-/, "m").replace(/[.+]/g, "_");
}

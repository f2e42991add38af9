/**
 * Writes safetensors files the way PyTorch's `safetensors.torch.save_file` and Keras exports do
 * (F32 tensors, an I64 counter here and there), independently of netc's own writer, so tests
 * of foreign weights read bytes netc did not make.
 */
export interface FixtureTensor {
  shape: number[];
  data: number[] | Float32Array;
  dtype?: "F32" | "I64" | "F16";
}

/** The bytes of a safetensors file. */
export function safetensorsBytes(tensors: Record<string, FixtureTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const size = (t: FixtureTensor) => (t.dtype === "I64" ? 8 : t.dtype === "F16" ? 2 : 4);
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = size(t) * t.data.length;
    header[name] = { dtype: t.dtype ?? "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    for (const v of t.data) {
      if (t.dtype === "I64") view.setBigInt64(at, BigInt(v), true);
      else if (t.dtype === "F16") view.setUint16(at, toHalf(v), true);
      else view.setFloat32(at, v, true);
      at += size(t);
    }
  }
  return out;
}

/** A float as IEEE half bits (normal numbers only: test values are small and not tiny). */
function toHalf(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | (frac & 0x3ff);
}

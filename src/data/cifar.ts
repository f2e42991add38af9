import { DataError, readMaybeGzip } from "./errors.js";
import type { FloatTensor, IntTensor } from "./tensor.js";

/**
 * CIFAR-10 binary batches (`data_batch_1.bin` ... `test_batch.bin`): records of 1 label byte
 * (0..9) and 3072 pixel bytes, the 32×32 red plane, then green, then blue (CHW), row-major.
 */

/** The CIFAR-10 class names by id. */
export const CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/** Bytes per CIFAR-10 record: a label byte and 3×32×32 pixel bytes. */
export const CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32;

/** CIFAR images [N, 3, 32, 32] (pixel values 0..255, unscaled) and class ids [N]. */
export interface CifarBatch {
  images: FloatTensor;
  labels: IntTensor;
}

/** Reads one or more CIFAR-10 binary batch files (gzipped or not), concatenated in order. */
export function readCifar10(paths: string | string[]): CifarBatch {
  const files = typeof paths === "string" ? [paths] : paths;
  const parts = files.map((p) => parseCifar10(readMaybeGzip(p), p));
  if (parts.length === 1) return parts[0]!;
  const n = parts.reduce((a, p) => a + p.labels.values.length, 0);
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images.values, at * 3072);
    labels.set(p.labels.values, at);
    at += p.labels.values.length;
  }
  return { images: { shape: [n, 3, 32, 32], values: images }, labels: { shape: [n], values: labels } };
}

/** Parses the bytes of one CIFAR-10 batch; `file` names it in errors. */
export function parseCifar10(bytes: Uint8Array, file: string): CifarBatch {
  const R = CIFAR10_RECORD_BYTES;
  if (bytes.length === 0) throw new DataError(file, "is empty: no CIFAR-10 records");
  if (bytes.length % R !== 0) {
    throw new DataError(
      file,
      `size ${bytes.length} is not a multiple of ${R} (a CIFAR-10 record is 1 label byte + 3072 pixel bytes): ${Math.floor(bytes.length / R)} records and ${bytes.length % R} bytes left over`,
    );
  }
  const n = bytes.length / R;
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = bytes[i * R]!;
    if (label > 9) throw new DataError(file, `record ${i} has label ${label}, expected a class id in 0..9`);
    labels[i] = label;
    images.set(bytes.subarray(i * R + 1, (i + 1) * R), i * 3072);
  }
  return { images: { shape: [n, 3, 32, 32], values: images }, labels: { shape: [n], values: labels } };
}

import { readSource, type ByteSource } from "../base/read-source.js";
import { DATASETS, type Dataset } from "./datasets.js";
import { DataError, isGzip } from "./errors.js";
import { parseIdx, type IdxExpect, type IdxTensor } from "./idx.js";

/**
 * Data for a page (or any fetch-capable runtime): the same files the named datasets read from
 * their packages, fetched from URLs or given as bytes, gzip unpacked by `DecompressionStream`.
 */

/** Unpacks gzip bytes (sniffed from the content, so already-unpacked bytes pass through). */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  if (typeof DecompressionStream !== "function") throw new DataError(file, "is gzip, and this runtime has no DecompressionStream to unpack it");
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DataError(file, `damaged gzip data (${(e as Error).message})`);
  }
}

/** The bytes of `src` (a URL, or bytes), gunzipped when gzip; a failure is a DataError naming it. */
export async function fetchBytes(src: ByteSource, what = describe(src)): Promise<Uint8Array> {
  const raw = await readSource(src, what, (reason) => new DataError(what, `cannot be read (${reason})`));
  return gunzip(raw, what);
}

/** An IDX tensor (gzipped or not) from a URL or bytes. */
export async function fetchIdx(src: ByteSource, expect: IdxExpect = {}): Promise<IdxTensor> {
  const what = describe(src);
  return parseIdx(await fetchBytes(src, what), what, expect);
}

/**
 * A named dataset (`fashion_mnist`, `mnist`, `iris`, `moby_dick`) from its files: `from` is the URL
 * of a folder laid out like the package that provides it (e.g. `/data/fashion-mnist/` holding
 * `train-images-idx3-ubyte.gz` and the rest), or each file by its name in `DATASETS[name].files`,
 * as a URL or bytes. The splits are the same as `loadDataset`'s. Pass the result to `prepareData`
 * as `dataset`.
 */
export async function fetchDataset(name: string, from: string | URL | Record<string, ByteSource>, options: { limit?: number } = {}): Promise<Dataset> {
  const entry = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  if (!entry) throw new DataError(`dataset ${name}`, `unknown dataset; known: ${Object.keys(DATASETS).join(", ")}`);
  const given = typeof from === "string" || from instanceof URL ? undefined : from;
  const base = given ? undefined : folderUrl(from as string | URL);
  const sources = entry.files.map((file): [string, ByteSource] => {
    if (base) return [file, new URL(file, base)];
    const src = Object.hasOwn(given!, file) ? given![file] : undefined;
    if (src === undefined) throw new DataError(`dataset ${name}`, `no file ${file} given (it needs ${entry.files.join(", ")})`);
    return [file, src];
  });
  const files: Record<string, Uint8Array> = {};
  const names: Record<string, string> = {};
  await Promise.all(
    sources.map(async ([file, src]) => {
      names[file] = src instanceof ArrayBuffer || ArrayBuffer.isView(src) ? file : String(src);
      files[file] = await fetchBytes(src, names[file]);
    }),
  );
  const source = base ? base.href : `dataset ${name} from ${entry.files.length} given file${entry.files.length === 1 ? "" : "s"}`;
  return entry.fromFiles(files, source, options, (f) => names[f] ?? f);
}

/** A folder's URL, with the trailing slash that makes its files resolve inside it. */
function folderUrl(from: string | URL): URL {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(String(from), base);
  } catch {
    throw new DataError(String(from), "is not a URL");
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

function describe(src: ByteSource): string {
  return src instanceof ArrayBuffer || ArrayBuffer.isView(src) ? "the given bytes" : String(src);
}

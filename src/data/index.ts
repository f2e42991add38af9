/** Offline data: file readers (IDX, NPY, CSV, JSON, text, CIFAR-10, PNG and PGM/PPM images), named datasets and the input pipeline. */
export { DataError } from "./errors.js";
export { rowCount, rowWidth, sizeOf, type AnyTensor, type FloatTensor, type IntTensor } from "./tensor.js";
export { parseIdx, parseIdxLabels, readIdx, readIdxAsync, readIdxLabels, checkClassIds, type IdxDtype, type IdxExpect, type IdxTensor } from "./idx.js";
export { parseNpy, readNpy, readNpyInt, type NpyTensor } from "./npy.js";
export { classIds, parseCsv, readCsv, type CsvOptions, type CsvTable } from "./csv.js";
export { jsonToTensor, readJsonArray, scanNumberArray } from "./json.js";
export {
  charSequences,
  charVocab,
  decodeChars,
  encodeChars,
  readCharText,
  readText,
  type CharSequences,
  type CharText,
  type CharVocab,
} from "./text.js";
export { decodeImage, readImage, resizeImage, toChannels, type Image } from "./image.js";
export { CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, parseCifar10, readCifar10, type CifarBatch } from "./cifar.js";
export {
  DATASETS,
  FASHION_MNIST_CLASSES,
  datasetAvailable,
  loadDataset,
  loadDatasetAsync,
  type ClassificationDataset,
  type Dataset,
  type DatasetEntry,
  type DatasetProvider,
  type LabeledSplit,
  type LoadOptions,
  type TextDataset,
  type TextSplit,
} from "./datasets.js";
export {
  Rng,
  batchCount,
  batchIndices,
  batches,
  idsToFloat,
  limitRows,
  mix32,
  nhwcToNchw,
  oneHot,
  permutation,
  scaleToUnit,
  sliceRows,
  standardStats,
  standardise,
  takeRows,
  toLayout,
  trainValidationSplit,
  type BatchOptions,
  type Columns,
  type ColumnsLike,
  type ImageLayout,
  type Stats,
  type StatsAxis,
} from "./pipeline.js";

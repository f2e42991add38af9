/**
 * netc's Node-only API (`netc/node`): checkpoint files, the datasets installed as npm and Debian
 * packages, data files by path, and WebGPU through Dawn (the `webgpu` package). `netc` and
 * `netc/runtime` run in a browser; this entry is what only Node can do.
 */
export { readCheckpoint, writeCheckpoint } from "./runtime/checkpoint-file.js";
export { loadDataset, loadDatasetAsync, datasetAvailable, type LoadOptions as DatasetLoadOptions } from "./data/datasets.js";
export { readIdx, readIdxAsync, readIdxLabels } from "./data/idx.js";
export { readNpy, readNpyInt } from "./data/npy.js";
export { readCsv } from "./data/csv.js";
export { readImage } from "./data/image.js";
export { readText, readCharText } from "./data/text.js";
export { readCifar10 } from "./data/cifar.js";
/** In Node, `acquireGpu` opens Dawn's device (the `webgpu` package); the same function `netc` exports. */
export { acquireGpu, releaseGpu, type GpuContext } from "./runtime/device.js";

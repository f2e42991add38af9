/**
 * netc's library API: compile `.net` source and run it on WebGPU or the CPU reference, in Node or
 * a browser (no `node:*` import; files, dataset packages and checkpoint files are in `netc/node`).
 */
export { compile, bindBatch, type Compiled, type CompileOptions } from "./compile.js";
export { NetcError } from "./base/errors.js";
export { planOf, type PlanOptions } from "./codegen/plan.js";
export { planFromJson, planToJson, PlanFormatError, type Plan } from "./ir/plan.js";
export { printGraph } from "./ir/print.js";
export { interpret, type Tensor } from "./ir/interp.js";
export { hyperValues, hyperSchedule, type HyperSchedule } from "./ir/training.js";
export { CpuRunner, type CpuRunnerOptions } from "./runtime/cpu.js";
export { WebGpuRunner, type WebGpuRunnerOptions } from "./runtime/webgpu.js";
export { acquireGpu, releaseGpu, type GpuContext } from "./runtime/device.js";
export { initialParams, planInitialValues } from "./runtime/train.js";
export type { StepRunner } from "./runtime/runner.js";
export { webgpuBackend, RunnerPool, type Backend } from "./runtime/backend.js";
export { cpuBackend } from "./runtime/cpu-backend.js";
export { loadModel, type Model, type LoadOptions, type ModelDescription, type Prediction } from "./runtime/model.js";
export { Trainer, type TrainerConfig, type TrainResult, type EpochRecord, type StepProgress } from "./runtime/trainer.js";
export { prepareData, batchOf, applyTransform, type PreparedData, type RowSet, type InputTransform, type ClassTask } from "./runtime/data-source.js";
export { transformRows } from "./runtime/transform.js";
export { evaluate, type EvalResult } from "./runtime/evaluate.js";
export { ConfusionMatrix, type ClassScores } from "./runtime/metrics.js";
export { loadCheckpoint, encodeCheckpoint, decodeCheckpoint, CheckpointError, type Checkpoint, type CheckpointMeta } from "./runtime/checkpoint.js";
export type { ByteSource } from "./base/read-source.js";
export { fetchDataset, fetchIdx, fetchBytes, gunzip } from "./data/fetch.js";
export { parseIdx, parseIdxLabels, type IdxExpect, type IdxTensor } from "./data/idx.js";
export { DataError } from "./data/errors.js";
export { DATASETS, type Dataset, type ClassificationDataset, type TextDataset } from "./data/datasets.js";
export { checkpointValues } from "./runtime/restore.js";
export { foreignWeights, mapForeignWeights, kerasName, type WeightSource, type ForeignWeightOptions } from "./weights/foreign.js";
export { netcLayers, type NetcLayers, type NetcLayer, type LayerKind } from "./weights/layers.js";
export { decodeForeignSafetensors, type ForeignTensor } from "./weights/safetensors-any.js";
export { onnxToNet, OnnxImportUnsupported, type NetImport } from "./onnx/to-net.js";

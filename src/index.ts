/** netc's library API: compile `.net` source and run it on WebGPU or the CPU reference. */
export { compile, bindBatch, type Compiled, type CompileOptions } from "./compile.js";
export { printGraph } from "./ir/print.js";
export { interpret, type Tensor } from "./ir/interp.js";
export { CpuRunner, type CpuRunnerOptions } from "./runtime/cpu.js";
export { WebGpuRunner, type WebGpuRunnerOptions } from "./runtime/webgpu.js";
export { acquireGpu, releaseGpu } from "./runtime/device.js";
export { initialParams } from "./runtime/train.js";
export type { StepRunner } from "./runtime/runner.js";
export { cpuBackend, webgpuBackend, RunnerPool, type Backend } from "./runtime/backend.js";
export { Trainer, type TrainerConfig, type TrainResult, type EpochRecord, type StepProgress } from "./runtime/trainer.js";
export { prepareData, batchOf, type PreparedData, type RowSet, type InputTransform, type ClassTask } from "./runtime/data-source.js";
export { evaluate, type EvalResult } from "./runtime/evaluate.js";
export { ConfusionMatrix, type ClassScores } from "./runtime/metrics.js";
export { readCheckpoint, writeCheckpoint, CheckpointError, type Checkpoint } from "./runtime/checkpoint.js";
export { checkpointValues } from "./runtime/restore.js";

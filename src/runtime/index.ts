/**
 * netc's runtime (`netc/runtime`): runs compiled Plans and built models on WebGPU or the CPU
 * reference, without the compiler (no parser, no passes, no codegen).
 */
export { NetcError } from "../base/errors.js";
export { loadModel, type LoadOptions, type LoadStage, type Model, type ModelDescription, type Prediction, type InputArray } from "./model.js";
export { planFromJson, planToJson, PlanFormatError, PLAN_FORMAT, type Plan, type PlanTensor, type PlanParam, type PlanBuffer, type PlanKernel, type PlanVariant } from "../ir/plan.js";
export { acquireGpu, releaseGpu, type GpuContext, type AcquireResult, type GpuLimits } from "./device.js";
export { RunnerPool, webgpuBackend, dimsFor, type Backend } from "./backend.js";
export { WebGpuRunner, type WebGpuRunnerOptions, type PrepareTimes } from "./webgpu.js";
export type { StepRunner } from "./runner.js";
export { PipelineCache } from "./pipelines.js";
export { hyperValues, type HyperSchedule } from "../ir/training.js";
export { transformRows, type InputTransform } from "./transform.js";
export { encodeSafetensors, decodeSafetensors, type NamedTensor } from "./safetensors.js";
export { planInitialValues } from "./train.js";

/** The CPU reference backend, loaded on demand (it carries every op's reference semantics). */
export async function loadCpuBackend(): Promise<import("./backend.js").Backend> {
  return (await import("./cpu-backend.js")).cpuBackend();
}

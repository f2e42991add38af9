/** netc's library API: compile `.net` source and run it on WebGPU or the CPU reference. */
export { compile, bindBatch, type Compiled, type CompileOptions } from "./compile.js";
export { printGraph } from "./ir/print.js";
export { interpret, type Tensor } from "./ir/interp.js";
export { CpuRunner } from "./runtime/cpu.js";
export { WebGpuRunner } from "./runtime/webgpu.js";
export { acquireGpu, releaseGpu } from "./runtime/device.js";
export { initialParams, trainLoop } from "./runtime/train.js";
export type { StepRunner } from "./runtime/runner.js";

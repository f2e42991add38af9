/** netc's small runtime entry (`netc/runtime`): runs compiled models without the compiler. */
export { acquireGpu, releaseGpu } from "./device.js";

// Prints the WebGPU adapter Dawn finds, or exits 1 when there is none.
import { create, globals } from "webgpu";
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
if (!adapter) process.exit(1);
const info = adapter.info;
console.log(`${info.description || info.device || "unknown"} (${info.vendor || "?"}, ${info.architecture || "?"})`);
process.exit(0);

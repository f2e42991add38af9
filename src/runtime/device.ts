/// <reference types="@webgpu/types" preserve="true" />
/**
 * The WebGPU adapter and device, in a browser (`navigator.gpu`) or in Node (Dawn, through the
 * `webgpu` package, imported only when needed so a browser bundle does not pull it in).
 *
 * 1. Find a GPU: `navigator.gpu` if there is one, else (in Node) Dawn's `create([])`.
 * 2. Ask it for an adapter; when there is none, say why and how to get one.
 * 3. Ask the adapter for a device with its larger compute limits (see `WANTED_LIMITS`).
 * 4. Record every uncaptured error and any loss of the device in `GpuContext.errors`, so tests
 *    can assert that nothing went wrong behind their back.
 */

import { cacheSubdir } from "../base/cache-dir.js";
import { nodeBuiltin } from "../base/node-builtins.js";
import { isNode, nodeModule } from "./node-modules.js";

/** The device limits the compiler plans with (the device's, not the spec's defaults). */
export interface GpuLimits {
  maxStorageBuffersPerShaderStage: number;
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/** An open WebGPU device, what it is called, and what went wrong on it so far. */
export interface GpuContext {
  device: GPUDevice;
  /** A human-readable adapter name, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) (mesa, software)". */
  adapterName: string;
  limits: GpuLimits;
  /** Uncaptured errors and unexpected device loss, in order; empty when all is well. */
  errors: string[];
  /**
   * The driver compiles a shader at its first dispatch, not when its pipeline is made (Mesa's
   * llvmpipe): netc then compiles ahead on sibling devices in parallel (see parallel-compile.ts).
   */
  firstDispatchCompiles?: boolean;
  /**
   * The subgroup size when the device has WGSL subgroups and the adapter runs every subgroup at
   * one size (llvmpipe: its SIMD width, 8 with AVX2); kernels may then share loads across a subgroup.
   */
  subgroupSize?: number;
  /** Waiting for the device spins the JavaScript thread (Dawn for Node): waits go through quiet-wait.ts. */
  spinsWhileWaiting?: boolean;
}

/** The result of `acquireGpu`: a device, or the reason there is none. */
export type AcquireResult = { ok: true; gpu: GpuContext } | { ok: false; reason: string };

const HOW_TO_GET_ONE =
  "run `npm run setup` as root to install Mesa's Vulkan driver from bookworm-backports";

// NOTE: limits worth more than the spec's defaults for a compute compiler. The device gets the
// adapter's value for each (never less than the default); `GpuContext.limits` reports the result,
// so a plan meant to be portable can still choose to stay within the defaults.
const WANTED_LIMITS = [
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
] as const;

const released = new WeakSet<GpuContext>();

// NOTE: Dawn for Node crashes the process (segfault or std::system_error, no JS error) when the
// GPU instance or the adapter is garbage-collected while its device is still in use. Each device
// keeps them alive through this map for as long as the device object itself lives.
// NOTE: a strong reference, dropped by releaseGpu. dawn.node lives exactly as long as the object
// `create()` returned is referenced, and only while it lives does it poll for finished GPU work
// (which also keeps Node's event loop running): with a weak reference a plain `node` process
// either exits with a mapAsync still pending or the instance is collected under a live device
// (a segfault). Vitest's workers hid this, their RPC channel keeps the loop busy.
const keepAlive = new Map<GPUDevice, { gpu: GPU; adapter: GPUAdapter; requiredLimits: Record<string, number>; requiredFeatures: GPUFeatureName[] }>();

/** Opens a WebGPU device (browser or Node), or says why there is none and how to get one. */
export async function acquireGpu(): Promise<AcquireResult> {
  const browserGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  let gpu: GPU;
  if (browserGpu) {
    gpu = browserGpu;
  } else if (isNode()) {
    const made = await nodeGpu();
    if (!made.ok) return made;
    gpu = made.gpu;
  } else {
    return { ok: false, reason: "this browser has no WebGPU (navigator.gpu is missing); try a recent Chrome or Edge" };
  }

  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    return { ok: false, reason: `requestAdapter failed: ${messageOf(e)}` };
  }
  if (!adapter) {
    const why = isNode() ? await whyNoNodeAdapter() : "the browser offered no WebGPU adapter";
    return { ok: false, reason: `${why}; ${isNode() ? HOW_TO_GET_ONE : "check that WebGPU is enabled"}` };
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  let device: GPUDevice;
  let requiredFeatures: GPUFeatureName[];
  try {
    // NOTE: timestamp queries only for the profiler (`--profile`), subgroups for kernels that ask
    // for them (see subgroupSize); the features cost nothing unused. NETC_SUBGROUPS=0 leaves
    // subgroups off, to measure what they give.
    const wanted: GPUFeatureName[] = isNode() && process.env["NETC_SUBGROUPS"] === "0" ? ["timestamp-query"] : ["timestamp-query", "subgroups"];
    requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: "netc" });
  } catch (e) {
    return { ok: false, reason: `requestDevice failed on ${describeAdapter(adapter)}: ${messageOf(e)}` };
  }

  keepAlive.set(device, { gpu, adapter, requiredLimits, requiredFeatures });
  const context: GpuContext = {
    device,
    adapterName: describeAdapter(adapter),
    limits: {
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
    },
    errors: [],
    firstDispatchCompiles: isFirstDispatchCompiler(adapter),
    ...fixedSubgroupSize(adapter, device),
    // NOTE: NETC_QUIET_WAIT=0 waits as Dawn does by itself, to measure what the quiet wait gives.
    spinsWhileWaiting: !browserGpu && isNode() && process.env["NETC_QUIET_WAIT"] !== "0",
  };
  device.addEventListener("uncapturederror", (event) => {
    context.errors.push(`uncaptured ${errorKind(event.error)}: ${event.error.message}`);
  });
  void device.lost.then((info) => {
    // NOTE: only destroy() resolves `lost` with reason "destroyed", and that is no error.
    if (info.reason === "destroyed") return;
    context.errors.push(`device lost (${info.reason}): ${info.message}`);
  });
  return { ok: true, gpu: context };
}

/**
 * Another device on a new adapter of the same GPU, with the same limits and features (Node's Dawn
 * only; undefined elsewhere or when it cannot be had). Its shaders compile into the same Mesa disk
 * cache, which is what parallel-compile.ts uses it for. The caller destroys it.
 */
export async function openSiblingDevice(ctx: GpuContext): Promise<GPUDevice | undefined> {
  const made = keepAlive.get(ctx.device);
  if (!made || !isNode()) return undefined;
  try {
    const adapter = await made.gpu.requestAdapter({ powerPreference: "high-performance" });
    return (await adapter?.requestDevice({ requiredLimits: made.requiredLimits, requiredFeatures: made.requiredFeatures, label: "netc-compile" })) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Mesa's llvmpipe (and its Vulkan face, lavapipe) JIT-compiles a compute shader at its first dispatch. */
function isFirstDispatchCompiler(adapter: GPUAdapter): boolean {
  const info = adapter.info;
  return /llvmpipe|lavapipe/i.test(`${info.description} ${info.architecture} ${info.device}`);
}

/** Destroys the device (idempotent). */
export function releaseGpu(gpu: GpuContext): void {
  if (released.has(gpu)) return;
  released.add(gpu);
  gpu.device.destroy();
  keepAlive.delete(gpu.device);
  if (shared?.gpu === gpu) shared = undefined;
}

let shared: { result: Promise<AcquireResult>; gpu?: GpuContext } | undefined;
let exitHookInstalled = false;

/**
 * One device per process for tests (undefined when there is no adapter). `releaseGpu` on it is
 * fine (a later call opens a new one), and it is destroyed when the process exits in any case.
 */
export async function sharedGpu(): Promise<GpuContext | undefined> {
  const got = await sharedGpuResult();
  return got.ok ? got.gpu : undefined;
}

/** Like `sharedGpu`, but throws with the reason when there is no adapter (for tests that must not skip). */
export async function requireSharedGpu(): Promise<GpuContext> {
  const got = await sharedGpuResult();
  if (!got.ok) throw new Error(`no WebGPU adapter: ${got.reason}`);
  return got.gpu;
}

/** The shared device, or the reason there is none. */
export function sharedGpuResult(): Promise<AcquireResult> {
  if (!shared) {
    const entry: { result: Promise<AcquireResult>; gpu?: GpuContext } = {
      result: acquireGpu().then((got) => {
        if (got.ok) entry.gpu = got.gpu;
        else if (shared === entry) shared = undefined; // NOTE: let a later call retry.
        return got;
      }),
    };
    shared = entry;
    if (!exitHookInstalled && isNode()) {
      exitHookInstalled = true;
      // NOTE: Dawn can keep a core busy until its device is destroyed; destroy on the way out.
      process.on("exit", () => {
        if (shared?.gpu) releaseGpu(shared.gpu);
      });
    }
  }
  return shared.result;
}

/** Loads Dawn from the `webgpu` package; the specifier is a variable so bundlers leave it alone. */
async function nodeGpu(): Promise<{ ok: true; gpu: GPU } | { ok: false; reason: string }> {
  await ensureRuntimeDir();
  useNetcShaderCache();
  let mod: typeof import("webgpu");
  try {
    mod = await nodeModule<typeof import("webgpu")>("webgpu");
  } catch (e) {
    return { ok: false, reason: `could not load the \`webgpu\` package (Dawn for Node): ${messageOf(e)}; run \`npm ci\`` };
  }
  // NOTE: Dawn's classes and enums (GPUBufferUsage, GPUMapMode, ...) are not globals in Node.
  for (const [key, value] of Object.entries(mod.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  try {
    return { ok: true, gpu: mod.create([]) };
  } catch (e) {
    return { ok: false, reason: `Dawn could not start: ${messageOf(e)}` };
  }
}

/**
 * Mesa's drivers (llvmpipe among them) keep compiled shaders in a disk cache; netc points it at
 * `<netc cache>/mesa` (see cacheDir) unless the user chose a folder or turned it off, so a second
 * run finds the shaders the first compiled and netc can say where they are. Set before Dawn opens
 * the Vulkan driver, which reads it then.
 */
function useNetcShaderCache(): void {
  if (process.env["MESA_SHADER_CACHE_DIR"] || shaderCacheOff()) return;
  const dir = cacheSubdir("mesa");
  if (dir) process.env["MESA_SHADER_CACHE_DIR"] = dir;
}

/** The folder Mesa's shader cache is in for this process (Node only; undefined when it is off or unknown). */
export function shaderCacheDir(): string | undefined {
  if (!isNode() || shaderCacheOff()) return undefined;
  return process.env["MESA_SHADER_CACHE_DIR"];
}

/** Whether the user turned Mesa's shader cache off. */
function shaderCacheOff(): boolean {
  const off = process.env["MESA_SHADER_CACHE_DISABLE"];
  return off === "true" || off === "1";
}

/**
 * Dawn's Vulkan loader wants XDG_RUNTIME_DIR; CI machines and chroots often have none. Points it at
 * a private directory (mode 700, like the one `npm run setup` makes) when it is unset.
 */
async function ensureRuntimeDir(): Promise<void> {
  if (process.env["XDG_RUNTIME_DIR"]) return;
  const fs = nodeBuiltin("node:fs")!;
  const os = nodeBuiltin("node:os")!;
  const path = nodeBuiltin("node:path")!;
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  const dir = path.join(os.tmpdir(), `netc-xdg-${uid ?? "user"}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.statSync(dir);
    if (uid !== undefined && st.uid !== uid) throw new Error("owned by another user");
    fs.chmodSync(dir, 0o700);
    process.env["XDG_RUNTIME_DIR"] = dir;
  } catch {
    process.env["XDG_RUNTIME_DIR"] = fs.mkdtempSync(path.join(os.tmpdir(), "netc-xdg-"));
  }
}

/** Best guess at why Dawn offered no adapter on this machine. */
async function whyNoNodeAdapter(): Promise<string> {
  if (process.platform !== "linux") return "Dawn found no WebGPU adapter";
  const fs = nodeBuiltin("node:fs")!;
  const path = nodeBuiltin("node:path")!;
  const libDirs = [
    ...(process.env["LD_LIBRARY_PATH"] ?? "").split(":").filter(Boolean),
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
  ];
  if (!libDirs.some((d) => fs.existsSync(path.join(d, "libvulkan.so.1")))) {
    return "Dawn found no Vulkan driver (libvulkan.so.1 missing)";
  }
  const forced = process.env["VK_ICD_FILENAMES"] ?? process.env["VK_DRIVER_FILES"];
  if (forced) return `Dawn found no usable Vulkan driver among VK_ICD_FILENAMES/VK_DRIVER_FILES=${forced}`;
  const icdDirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];
  const icds = icdDirs.flatMap((d) => {
    try {
      return fs.readdirSync(d).filter((f) => f.endsWith(".json"));
    } catch {
      return [];
    }
  });
  if (icds.length === 0) return "Dawn found no Vulkan driver (libvulkan.so.1 is present but no ICD in /usr/share/vulkan/icd.d)";
  return `Dawn found no WebGPU adapter (Vulkan drivers present: ${icds.join(", ")}; none usable, possibly too old)`;
}

/**
 * The adapter's name from `adapter.info`: Dawn in Node fills `description` ("llvmpipe: Mesa …"),
 * a browser often only `vendor` and `architecture` (Chromium's SwiftShader: "google",
 * "swiftshader"), so whichever fields are set make the name.
 */
export function describeAdapter(adapter: Pick<GPUAdapter, "info">): string {
  const info = adapter.info;
  const name = info.description || info.device;
  const parts = [info.vendor, info.architecture].filter(Boolean);
  if (name) return parts.length ? `${name} (${parts.join(", ")})` : name;
  if (parts.length) return `${parts.join(" ")}${info.isFallbackAdapter ? " (fallback adapter)" : ""}`;
  return "unnamed WebGPU adapter";
}

function errorKind(e: GPUError): string {
  const name = e.constructor?.name ?? "";
  if (name === "GPUValidationError") return "validation error";
  if (name === "GPUOutOfMemoryError") return "out-of-memory error";
  if (name === "GPUInternalError") return "internal error";
  return "error";
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `{ subgroupSize }` when `device` has subgroups and the adapter reports one size for them all, else nothing. */
function fixedSubgroupSize(adapter: GPUAdapter, device: GPUDevice): { subgroupSize?: number } {
  if (!device.features.has("subgroups")) return {};
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const [lo, hi] = [info.subgroupMinSize, info.subgroupMaxSize];
  return typeof lo === "number" && lo > 1 && lo === hi ? { subgroupSize: lo } : {};
}

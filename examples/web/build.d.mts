/** The repository's root. */
export declare const ROOT: string;
/** The models the demo offers, by id. */
export declare const MODELS: Record<string, { example: string; network: string; title: string; input: "photo" | "drawing" | "table"; train: string[] }>;
/** Builds the demo into `out` (see build.mjs). */
export declare function buildDemo(options: {
  out: string;
  models: Record<string, { checkpoint?: string; train?: string[] }>;
  log?: (line: string) => void;
}): Promise<{ manifest: { id: string; title: string; input: string; module: string }[]; outputs: Record<string, { bytes: number }> }>;
/** Serves `root` (and `mounts`) on 127.0.0.1. */
export declare function serve(root: string, options?: { port?: number; mounts?: Record<string, string> }): Promise<{ url: string; close(): Promise<void> }>;
/** Launches Debian's Chromium headless, with WebGPU (`--enable-unsafe-webgpu`) or without. */
export declare function launchChromium(options: { webgpu: boolean }): Promise<import("playwright-core").Browser>;
/** Where Debian's Chromium is, or undefined when it is not installed. */
export declare function chromiumPath(): string | undefined;

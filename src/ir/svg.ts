import { instance, type Viz } from "@viz-js/viz";
import { graphToDot, type DotOptions } from "./dot.js";
import type { Graph } from "./graph.js";

// Graphviz compiled to WebAssembly; instantiating it compiles the module, so do it once.
let viz: Promise<Viz> | undefined;

/** The DOT form of the graph laid out by Graphviz (`dot` engine) as an SVG document. */
export async function graphToSvg(g: Graph, opts: DotOptions = {}): Promise<string> {
  viz ??= instance();
  return (await viz).renderString(graphToDot(g, opts), { format: "svg", engine: "dot" });
}

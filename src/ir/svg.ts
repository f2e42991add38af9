import type { Viz } from "@viz-js/viz";
import { importOptional } from "../optional-packages.js";
import { graphToDot, type DotOptions } from "./dot.js";
import type { Graph } from "./graph.js";

// Graphviz compiled to WebAssembly; instantiating it compiles the module, so do it once.
let viz: Promise<Viz> | undefined;

/**
 * The DOT form of the graph laid out by Graphviz (`dot` engine) as an SVG document. Graphviz comes
 * from the optional package `@viz-js/viz`; without it this rejects with a MissingPackageError.
 */
export async function graphToSvg(g: Graph, opts: DotOptions = {}): Promise<string> {
  viz ??= importOptional<typeof import("@viz-js/viz")>("@viz-js/viz", "an SVG graph (netc ir --format svg)")
    .then((m) => m.instance())
    .catch((e: unknown) => {
      // NOTE: not cached, so a package installed after a failure is found on the next call.
      viz = undefined;
      throw e;
    });
  return (await viz).renderString(graphToDot(g, opts), { format: "svg", engine: "dot" });
}

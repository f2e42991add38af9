import type { StepTrace } from "./case.js";

/**
 * Whether WebGPU's run of a case agrees with the CPU reference's: the loss after each step within
 * 2e-3 relative (1e-4 absolute), and every persistent value after the two steps within 2e-2 of its
 * tensor's largest magnitude (1e-3 absolute). The weights are compared more loosely than the loss
 * because Adam's first steps move a weight by about the learning rate whatever the size of its
 * gradient, so a gradient that is zero up to rounding may move it either way on the two backends;
 * the loss after the second step still sees a wrong update of any weight that matters.
 * Returns what disagrees, or undefined.
 */
export function disagreement(cpu: StepTrace, gpu: StepTrace): string | undefined {
  if (cpu.losses.length !== gpu.losses.length) return `the CPU read ${cpu.losses.length} losses, WebGPU ${gpu.losses.length}`;
  for (const [i, a] of cpu.losses.entries()) {
    const b = gpu.losses[i]!;
    if (!close(a, b, 1e-4, 2e-3 * Math.max(Math.abs(a), Math.abs(b)))) return `loss after step ${i + 1}: CPU ${a}, WebGPU ${b}`;
  }
  for (const [name, a] of Object.entries(cpu.state)) {
    const b = gpu.state[name];
    if (!b || b.length !== a.length) return `${name}: WebGPU has ${b?.length ?? "no"} values, the CPU ${a.length}`;
    let scale = 0;
    for (const x of a) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    for (let i = 0; i < a.length; i++)
      if (!close(a[i]!, b[i]!, 1e-3, 2e-2 * scale)) return `${name}[${i}] after the steps: CPU ${a[i]}, WebGPU ${b[i]} (its tensor's largest magnitude ${scale})`;
  }
  return undefined;
}

function close(a: number, b: number, abs: number, rel: number): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  return Math.abs(a - b) <= abs + rel;
}

/// <reference types="@webgpu/types" preserve="true" />
import type { PlanArena } from "../ir/plan.js";
import { createStorage } from "./gpu-buffers.js";

/**
 * The storage buffers of an arena's slots. Slots hold values only within one step (nothing in
 * them is read after its submit), so runners on one device that never run at once can lend each
 * other theirs: a slot takes a distinct lent buffer at least as big when one is left (biggest
 * slots first, each the smallest such buffer), else a buffer of its own.
 */
export function arenaBuffers(device: GPUDevice, arena: PlanArena, lent: readonly GPUBuffer[] = []): { slots: GPUBuffer[]; owned: GPUBuffer[] } {
  const free = [...lent].sort((a, b) => a.size - b.size);
  const slots: GPUBuffer[] = new Array<GPUBuffer>(arena.slots.length);
  const owned: GPUBuffer[] = [];
  const order = arena.slots.map((bytes, s) => ({ bytes, s })).sort((a, b) => b.bytes - a.bytes || a.s - b.s);
  for (const { bytes, s } of order) {
    const at = free.findIndex((b) => b.size >= bytes);
    if (at >= 0) {
      slots[s] = free[at]!;
      free.splice(at, 1);
      continue;
    }
    const own = createStorage(device, bytes, `arena.${s}`);
    owned.push(own);
    slots[s] = own;
  }
  return { slots, owned };
}

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { niceTicks, trainingCurvesSvg } from "../src/cli/plot.js";
import { epochLine, fmtDuration, Progress, summaryTable } from "../src/cli/progress.js";
import type { EpochRecord, StepProgress } from "../src/runtime/trainer.js";

// What `netc train` prints around a run: plain lines off a terminal, a bar redrawn in place on
// one, the summary table, and the SVG training curves.

const HISTORY: EpochRecord[] = [1, 2, 3, 4, 5].map((epoch) => ({
  epoch,
  step: 10 * epoch,
  rows: 640,
  seconds: 0.5,
  samplesPerSecond: 1280,
  loss: 1 / epoch,
  accuracy: 0.5 + epoch / 20,
  valLoss: 1.1 / epoch + 0.05,
  valAccuracy: 0.45 + epoch / 20,
}));

/** Steps of one epoch with a read every 2 steps, on a fake clock of 100 ms per step. */
function feed(progress: Progress, clock: { t: number }, epoch: number, steps: number): void {
  for (let step = 1; step <= steps; step++) {
    clock.t += 100;
    const read = step % 2 === 0;
    const p: StepProgress = { epoch, epochs: 2, step, steps, done: (epoch - 1) * steps + step, planned: 2 * steps, rows: 64 * ((epoch - 1) * steps + step), read };
    if (read) Object.assign(p, { loss: 1 / step, accuracy: step / steps });
    progress.step(p);
  }
}

describe("progress output", () => {
  it("off a terminal: a plain line every N steps and one per epoch, no control characters", () => {
    const clock = { t: 0 };
    let text = "";
    const progress = new Progress({ tty: false, stepLines: 4, write: (s) => (text += s), now: () => clock.t });
    feed(progress, clock, 1, 10);
    progress.epoch(HISTORY[0]!, 2);
    const lines = text.trimEnd().split("\n");
    expect(lines).toEqual([
      "epoch 1/2  step 4/10  loss 0.250000  acc 40.00%  640 samples/s  ETA 0:02",
      "epoch 1/2  step 8/10  loss 0.125000  acc 80.00%  640 samples/s  ETA 0:01",
      "epoch 1/2  loss 1.000000  acc 55.00%  val_loss 1.150000  val_acc 50.00%  0.50 s  1280 samples/s",
    ]);
    expect(text).not.toMatch(/[\r\x1b]/);
  });

  it("on a terminal: one bar redrawn in place (at most every 100 ms), cleared before an epoch line", () => {
    const clock = { t: 0 };
    const writes: string[] = [];
    const progress = new Progress({ tty: true, columns: 120, write: (s) => writes.push(s), now: () => clock.t });
    feed(progress, clock, 1, 10);
    progress.epoch(HISTORY[0]!, 2);
    const bars = writes.filter((w) => w.startsWith("\r\x1b[2Kepoch"));
    expect(bars.length).toBe(10);
    expect(bars.at(-1)).toBe("\r\x1b[2Kepoch 1/2 [########################] 10/10  loss 0.100000  acc 100.00%  640 samples/s  ETA 0:01");
    expect(bars[4]).toMatch(/^\r\x1b\[2Kepoch 1\/2 \[#{12}-{12}\] 5\/10  loss 0\.250000  acc 40\.00%  640 samples\/s  ETA 0:02$/);
    expect(writes.at(-2)).toBe("\r\x1b[2K");
    expect(writes.at(-1)).toMatch(/^epoch 1\/2  loss 1\.000000/);
    expect(writes.every((w) => !w.includes("\n") || w.endsWith("\n"))).toBe(true);
  });

  it("quiet prints nothing", () => {
    let text = "";
    const progress = new Progress({ tty: false, quiet: true, stepLines: 1, write: (s) => (text += s) });
    feed(progress, { t: 0 }, 1, 4);
    progress.epoch(HISTORY[0]!, 2);
    expect(text).toBe("");
  });

  it("the summary table has a column per measured quantity", () => {
    expect(summaryTable(HISTORY.slice(0, 2))).toBe(
      [
        "epoch  train loss  train acc  val loss  val acc  time (s)  samples/s",
        "    1    1.000000     55.00%  1.150000   50.00%      0.50       1280",
        "    2    0.500000     60.00%  0.600000   55.00%      0.50       1280",
      ].join("\n"),
    );
    expect(summaryTable([{ epoch: 7, step: 7, rows: 4, seconds: 0.01, samplesPerSecond: 400, loss: 1e-5 }])).toBe(
      ["epoch  train loss  time (s)  samples/s", "    7    1.000e-5      0.01        400"].join("\n"),
    );
    expect(epochLine({ epoch: 3, step: 3, rows: 4, seconds: 1, samplesPerSecond: 4, loss: 0.5 }, 100)).toBe("epoch   3/100  loss 0.500000  1.00 s  4.00 samples/s");
    expect(fmtDuration(3725)).toBe("1:02:05");
  });
});

/**
 * A strict-enough XML well-formedness check for the SVG we write: one root, every tag closed in
 * order, attributes quoted, entities known.
 */
function checkXml(xml: string): { root: string; counts: Record<string, number> } {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  const counts: Record<string, number> = {};
  let root = "";
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < body.length && (m = tag.exec(body))) {
    at = tag.lastIndex;
    if (m[5] !== undefined) {
      if (stack.length === 0 && m[5].trim()) throw new Error(`text outside the root: ${m[5].slice(0, 20)}`);
      for (const e of m[5].match(/&[^;\s]*;?/g) ?? []) if (!/^&(amp|lt|gt|quot|apos|#\d+);$/.test(e)) throw new Error(`bad entity ${e}`);
      continue;
    }
    const [, close, name, , selfClose] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
      continue;
    }
    if (stack.length === 0) {
      if (root) throw new Error("two root elements");
      root = name!;
    }
    counts[name!] = (counts[name!] ?? 0) + 1;
    if (!selfClose) stack.push(name!);
  }
  if (at !== body.length) throw new Error(`not XML at offset ${at}: ${body.slice(at, at + 30)}`);
  if (stack.length) throw new Error(`unclosed <${stack.join("> <")}>`);
  return { root, counts };
}

describe("training curves (--plot)", () => {
  it("are a well-formed SVG: two panels, training and validation curves with markers, ticks and legends", () => {
    const svg = trainingCurvesSvg(HISTORY, "tiny: <test> & more");
    const { root, counts } = checkXml(svg);
    expect(root).toBe("svg");
    expect(counts["polyline"]).toBe(4);
    expect(counts["circle"]).toBe(4 * 5);
    expect(svg).toContain("tiny: &lt;test&gt; &amp; more");
    expect(svg).toContain(">accuracy (%)<");
    expect(svg).toContain(">validation<");
    expect(svg).toMatch(/width="880"/);
  });

  it("without accuracy or validation: one panel, one curve; a single epoch still draws", () => {
    const svg = trainingCurvesSvg([{ epoch: 1, step: 1, rows: 4, seconds: 0.1, samplesPerSecond: 40, loss: 0.25 }], "xor");
    const { counts } = checkXml(svg);
    expect(counts["polyline"]).toBe(1);
    expect(svg).toMatch(/width="440"/);
  });

  it("renders (rsvg-convert, when installed)", () => {
    const which = spawnSync("sh", ["-c", "command -v rsvg-convert"], { encoding: "utf8" });
    if (which.status !== 0) return;
    const dir = mkdtempSync(join(tmpdir(), "netc-plot-"));
    writeFileSync(join(dir, "c.svg"), trainingCurvesSvg(HISTORY, "curves"));
    const r = spawnSync("rsvg-convert", ["-o", join(dir, "c.png"), join(dir, "c.svg")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "c.png")).subarray(1, 4).toString()).toBe("PNG");
  });

  it("ticks are round numbers covering the data", () => {
    expect(niceTicks(1, 5, 6, true)).toEqual([1, 2, 3, 4, 5]);
    expect(niceTicks(0.013, 0.87, 5, false)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1, 1000, 6, true)).toEqual([0, 200, 400, 600, 800, 1000]);
    const flat = niceTicks(0.5, 0.5, 5, false);
    expect(flat[0]).toBeLessThan(0.5);
    expect(flat.at(-1)).toBeGreaterThan(0.5);
  });
});

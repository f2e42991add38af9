import type { EpochRecord } from "../runtime/trainer.js";

/**
 * Training curves as a self-contained SVG (no scripts, no external fonts): a loss panel and, when
 * accuracy was measured, an accuracy panel, each with axes, ticks, grid lines, the training and
 * validation curves (with a marker at each recorded epoch) and a legend.
 */

/** One curve: a name, a colour, and its points (epoch, value). */
interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

const TRAIN = "#1f77b4";
const VALIDATION = "#d62728";
const PANEL = { width: 440, height: 300, left: 64, right: 16, top: 36, bottom: 48 };

/** The SVG of the loss (and accuracy) curves of a run's recorded epochs. */
export function trainingCurvesSvg(history: readonly EpochRecord[], title: string): string {
  const pick = (f: (r: EpochRecord) => number | undefined) =>
    history.flatMap((r) => {
      const v = f(r);
      return v === undefined || !Number.isFinite(v) ? [] : [[r.epoch, v] as [number, number]];
    });
  const loss: Series[] = [
    { name: "training", color: TRAIN, points: pick((r) => r.loss) },
    { name: "validation", color: VALIDATION, dash: "6 3", points: pick((r) => r.valLoss) },
  ].filter((s) => s.points.length);
  const accuracy: Series[] = [
    { name: "training", color: TRAIN, points: pick((r) => (r.accuracy === undefined ? undefined : 100 * r.accuracy)) },
    { name: "validation", color: VALIDATION, dash: "6 3", points: pick((r) => (r.valAccuracy === undefined ? undefined : 100 * r.valAccuracy)) },
  ].filter((s) => s.points.length);
  const panels = [panel("loss", "loss", loss, 0)];
  if (accuracy.length) panels.push(panel("accuracy", "accuracy (%)", accuracy, PANEL.width));
  const width = PANEL.width * panels.length;
  const height = PANEL.height + 28;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...panels.map((p) => `<g transform="translate(0, 28)">\n${p}\n</g>`),
    `</svg>`,
    "",
  ].join("\n");
}

/** One chart: frame, ticks, grid, curves and legend, `dx` from the left. */
function panel(title: string, yLabel: string, series: Series[], dx: number): string {
  const { width, height, left, right, top, bottom } = PANEL;
  const x0 = dx + left;
  const x1 = dx + width - right;
  const y0 = height - bottom;
  const y1 = top;
  const all = series.flatMap((s) => s.points);
  const out: string[] = [];
  out.push(`<text x="${dx + width / 2}" y="${top - 14}" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`);
  if (all.length === 0) {
    out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#444"/>`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#666">no data</text>`);
    return out.join("\n");
  }
  const xs = niceTicks(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])), 6, true);
  const ys = niceTicks(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])), 5, false);
  const [xLo, xHi] = [xs[0]!, xs.at(-1)!];
  const [yLo, yHi] = [ys[0]!, ys.at(-1)!];
  const sx = (x: number) => x0 + ((x - xLo) / (xHi - xLo || 1)) * (x1 - x0);
  const sy = (y: number) => y0 - ((y - yLo) / (yHi - yLo || 1)) * (y0 - y1);
  const n = (v: number) => Number(v.toFixed(2));
  for (const t of ys) {
    out.push(`<line x1="${x0}" y1="${n(sy(t))}" x2="${x1}" y2="${n(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${n(sy(t) + 4)}" text-anchor="end">${tickLabel(t, ys)}</text>`);
  }
  for (const t of xs) {
    out.push(`<line x1="${n(sx(t))}" y1="${y0}" x2="${n(sx(t))}" y2="${y0 + 5}" stroke="#444"/>`);
    out.push(`<text x="${n(sx(t))}" y="${y0 + 18}" text-anchor="middle">${tickLabel(t, xs)}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 36}" text-anchor="middle">epoch</text>`);
  out.push(`<text transform="translate(${dx + 16}, ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  for (const s of series) {
    const pts = s.points.map(([x, y]) => `${n(sx(x))},${n(sy(y))}`).join(" ");
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    if (s.points.length <= 60) for (const [x, y] of s.points) out.push(`<circle cx="${n(sx(x))}" cy="${n(sy(y))}" r="2.5" fill="${s.color}"/>`);
  }
  // Legend in the right-hand corner (top or bottom) the curves cross least, on a white box.
  const boxW = 110;
  const boxH = 8 + 16 * series.length;
  const lx = x1 - boxW - 6;
  const inBox = (top: number) => all.filter(([x, y]) => sx(x) >= lx && sy(y) >= top && sy(y) <= top + boxH).length;
  const legendTop = inBox(y1 + 6) <= inBox(y0 - 6 - boxH) ? y1 + 6 : y0 - 6 - boxH;
  out.push(`<rect x="${lx}" y="${legendTop}" width="${boxW}" height="${boxH}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`);
  series.forEach((s, i) => {
    const ly = legendTop + 16 + 16 * i;
    out.push(`<line x1="${lx + 8}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    out.push(`<text x="${lx + 36}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  return out.join("\n");
}

/** About `count` round tick values covering [lo, hi] (integers only when `integers`). */
export function niceTicks(lo: number, hi: number, count: number, integers: boolean): number[] {
  if (!(hi > lo)) {
    const pad = integers ? 1 : Math.abs(lo) * 0.1 || 1;
    [lo, hi] = [lo - (integers ? 0 : pad), hi + pad];
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integers) step = Math.max(1, Math.ceil(step));
  const first = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks.at(-1)! < hi) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
  return ticks;
}

/** A tick's text with as many decimals as the tick spacing needs. */
function tickLabel(t: number, ticks: number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9) + (step / Math.pow(10, Math.floor(Math.log10(step))) === 2.5 ? 1 : 0)));
  return t.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

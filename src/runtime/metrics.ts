/**
 * Classification metrics from predictions and targets: a confusion matrix, and from it accuracy,
 * per-class precision, recall and F1 with their macro averages (scikit-learn's definitions: a
 * class never predicted has precision 0, a class never true has recall 0, and the macro average
 * runs over the classes that occur among the targets or the predictions).
 */

/** Precision, recall, F1 and support (true rows) of one class. */
export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Counts of (true class, predicted class) pairs. */
export class ConfusionMatrix {
  /** counts[t * classes + p]: rows of true class t predicted as p. */
  readonly counts: Float64Array;
  total = 0;

  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  /** Adds one prediction. */
  add(truth: number, predicted: number): void {
    if (!(truth >= 0 && truth < this.classes && predicted >= 0 && predicted < this.classes))
      throw new Error(`internal: class pair (${truth}, ${predicted}) out of range for ${this.classes} classes`);
    this.counts[truth * this.classes + predicted]!++;
    this.total++;
  }

  /** Adds predictions pairwise. */
  addAll(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    if (truth.length !== predicted.length) throw new Error(`internal: ${truth.length} targets for ${predicted.length} predictions`);
    for (let i = 0; i < truth.length; i++) this.add(truth[i]!, predicted[i]!);
  }

  /** Rows of true class t predicted as p. */
  at(t: number, p: number): number {
    return this.counts[t * this.classes + p]!;
  }

  /** The share of predictions on the diagonal (0 when empty). */
  accuracy(): number {
    let hits = 0;
    for (let c = 0; c < this.classes; c++) hits += this.at(c, c);
    return this.total ? hits / this.total : 0;
  }

  /** Scores of each class, by class id. */
  perClass(): ClassScores[] {
    const out: ClassScores[] = [];
    for (let c = 0; c < this.classes; c++) {
      let predicted = 0;
      let support = 0;
      for (let k = 0; k < this.classes; k++) {
        predicted += this.at(k, c);
        support += this.at(c, k);
      }
      const tp = this.at(c, c);
      const precision = predicted ? tp / predicted : 0;
      const recall = support ? tp / support : 0;
      const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
      out.push({ precision, recall, f1, support });
    }
    return out;
  }

  /** Unweighted means of precision, recall and F1 over the classes that occur (as target or prediction). */
  macro(): { precision: number; recall: number; f1: number } {
    const scores = this.perClass();
    const present = scores.filter((_, c) => {
      let predicted = 0;
      for (let k = 0; k < this.classes; k++) predicted += this.at(k, c);
      return scores[c]!.support > 0 || predicted > 0;
    });
    const mean = (f: (s: ClassScores) => number) => (present.length ? present.reduce((a, s) => a + f(s), 0) / present.length : 0);
    return { precision: mean((s) => s.precision), recall: mean((s) => s.recall), f1: mean((s) => s.f1) };
  }
}

/** The index of the largest value in each row of `width` values (the first one on ties). */
export function argmaxRows(values: ArrayLike<number>, width: number): Int32Array {
  const rows = Math.floor(values.length / width);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = values[r * width]!;
    for (let k = 1; k < width; k++) {
      const v = values[r * width + k]!;
      if (v > bestValue) {
        bestValue = v;
        best = k;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Classes of single-probability rows: 1 when above 0.5 (binary cross-entropy's predictions and targets). */
export function thresholdRows(values: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: values.length }, (_, i) => (values[i]! > 0.5 ? 1 : 0));
}

/** The predicted (or target) classes of rows of scores: argmax over `width`, or a 0.5 threshold when width is 1. */
export function classesOf(values: ArrayLike<number>, width: number): Int32Array {
  return width === 1 ? thresholdRows(values) : argmaxRows(values, width);
}

/** The entropy (nats) of the distribution of ids: the loss of a model that knows only character frequencies. */
export function unigramEntropy(ids: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) counts.set(ids[i]!, (counts.get(ids[i]!) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / ids.length;
    h -= p * Math.log(p);
  }
  return h;
}

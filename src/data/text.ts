import { DataError, decodeUtf8, readBytes } from "./errors.js";
import type { IntTensor } from "./tensor.js";

/**
 * Plain text for character-level language models: a vocabulary of the distinct characters (Unicode
 * code points, sorted by code point), the text as ids into it, and fixed-length training sequences
 * whose targets are the next characters.
 */

/** A character vocabulary: `chars[id]` is a character, `index.get(char)` its id. */
export interface CharVocab {
  chars: string[];
  index: Map<string, number>;
}

/** A text file as characters, its vocabulary and ids. */
export interface CharText {
  text: string;
  vocab: CharVocab;
  /** One id per character (code point) of `text`. */
  ids: Int32Array;
}

/** Reads a UTF-8 text file, with CRLF line ends turned into LF; an empty file is a DataError. */
export function readText(path: string): string {
  const text = decodeUtf8(readBytes(path), path).replace(/\r\n?/g, "\n");
  if (text.length === 0) throw new DataError(path, "is empty: no text");
  return text;
}

/** Reads a text file and encodes it over its own vocabulary. */
export function readCharText(path: string): CharText {
  const text = readText(path);
  const vocab = charVocab(text);
  return { text, vocab, ids: encodeChars(text, vocab, path) };
}

/** The sorted distinct characters of a text (by code point, so "\n" < " " < "A" < "a"). */
export function charVocab(text: string): CharVocab {
  const chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}

/** The ids of a text's characters; a character outside the vocabulary is a DataError naming `source`. */
export function encodeChars(text: string, vocab: CharVocab, source = "text"): Int32Array {
  const out = new Int32Array(text.length);
  let n = 0;
  let offset = 0;
  for (const ch of text) {
    const id = vocab.index.get(ch);
    if (id === undefined) throw new DataError(source, `character ${JSON.stringify(ch)} at offset ${offset} is not in the vocabulary`);
    out[n++] = id;
    offset += ch.length;
  }
  // NOTE: text.length counts UTF-16 units; astral characters make fewer ids than that.
  return n === out.length ? out : out.slice(0, n);
}

/** The text the ids spell. */
export function decodeChars(ids: ArrayLike<number>, vocab: CharVocab): string {
  let s = "";
  for (let i = 0; i < ids.length; i++) s += vocab.chars[ids[i]!] ?? "\uFFFD";
  return s;
}

/** Training sequences cut from a text: inputs and next-character targets, both [count, length]. */
export interface CharSequences {
  inputs: IntTensor;
  targets: IntTensor;
}

/**
 * Cuts sequences of `length` ids starting every `stride` ids (default: `length`, no overlap);
 * sequence i is ids[s, s+length) with targets ids[s+1, s+length+1), s = i·stride. A text too
 * short for one sequence is a DataError.
 */
export function charSequences(ids: Int32Array, length: number, options: { stride?: number; source?: string } = {}): CharSequences {
  const stride = options.stride ?? length;
  if (!Number.isInteger(length) || length < 1) throw new DataError(options.source ?? "", `the sequence length must be a positive integer, got ${length}`);
  if (!Number.isInteger(stride) || stride < 1) throw new DataError(options.source ?? "", `the stride must be a positive integer, got ${stride}`);
  if (ids.length < length + 1) {
    throw new DataError(options.source ?? "text", `has ${ids.length} characters, too few for one sequence of ${length} and its next-character targets`);
  }
  const count = Math.floor((ids.length - 1 - length) / stride) + 1;
  const inputs = new Int32Array(count * length);
  const targets = new Int32Array(count * length);
  for (let i = 0; i < count; i++) {
    const s = i * stride;
    inputs.set(ids.subarray(s, s + length), i * length);
    targets.set(ids.subarray(s + 1, s + 1 + length), i * length);
  }
  return { inputs: { shape: [count, length], values: inputs }, targets: { shape: [count, length], values: targets } };
}

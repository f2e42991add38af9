import { DataError, decodeUtf8, readBytes } from "./errors.js";
import type { FloatTensor, IntTensor } from "./tensor.js";

/**
 * CSV tables of numbers with an optional class-label column:
 *   1. split into records (RFC 4180: quoted fields may hold the delimiter, quotes as "", newlines);
 *   2. the first record is a header if asked, or by default when none of its fields is a number;
 *   3. every feature field must be a decimal number; the label column may be numbers or names.
 * Blank lines are skipped. Errors name the file and the row as "row N", N being the 1-based line of
 * the file the record starts on (the header is row 1), so an editor's line number finds it.
 */

/** How to read a CSV file. */
export interface CsvOptions {
  /** Whether the first row names the columns; default: yes when none of its fields is a number. */
  header?: boolean;
  /** The label column, by header name or 0-based index; omitted: every column is a feature. */
  label?: string | number;
  /** Field separator; default ",". */
  delimiter?: string;
  /** A fixed class order (id = index); a label not in it is an error. Default: see {@link CsvTable.classes}. */
  classes?: string[];
}

/** A CSV file as tensors. */
export interface CsvTable {
  /** Names of the feature columns, from the header or `col0`, `col1`, ... */
  columns: string[];
  /** The features, [rows, columns.length]. */
  features: FloatTensor;
  /** Class ids [rows], when a label column was named. */
  labels?: IntTensor;
  /**
   * Class names by id, when a label column was named: `options.classes` if given; else, when every
   * label is a non-negative integer, the ids are those integers and the names "0".."max"; else the
   * distinct labels sorted (by UTF-16 code units), so the mapping does not depend on row order.
   */
  classes?: string[];
  /** The label column's name, when there is one. */
  labelColumn?: string;
}

/** Reads a CSV file of numbers (plus an optional label column) into tensors. */
export function readCsv(path: string, options: CsvOptions = {}): CsvTable {
  return parseCsv(decodeUtf8(readBytes(path), path), path, options);
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses CSV text; `file` names it in errors. */
export function parseCsv(text: string, file: string, options: CsvOptions = {}): CsvTable {
  const delimiter = options.delimiter ?? ",";
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw new DataError(file, `the delimiter must be one character other than a quote or newline, got ${JSON.stringify(delimiter)}`);
  }
  const records = splitRecords(text, file, delimiter);
  if (records.length === 0) throw new DataError(file, "is empty: no rows");
  const first = records[0]!;
  const hasHeader = options.header ?? first.fields.every((f) => !NUMBER.test(f.trim()));
  const width = first.fields.length;
  const names = hasHeader ? first.fields.map((f) => f.trim()) : first.fields.map((_, i) => `col${i}`);
  const rows = hasHeader ? records.slice(1) : records;
  if (rows.length === 0) throw new DataError(file, "has a header but no data rows");

  let labelIndex = -1;
  if (typeof options.label === "string") {
    if (!hasHeader) throw new DataError(file, `the label column is named "${options.label}", but the file has no header row`);
    labelIndex = names.indexOf(options.label);
    if (labelIndex < 0) throw new DataError(file, `no column named "${options.label}"; the columns are: ${names.join(", ")}`);
  } else if (typeof options.label === "number") {
    labelIndex = options.label;
    if (!Number.isInteger(labelIndex) || labelIndex < 0 || labelIndex >= width) {
      throw new DataError(file, `label column ${options.label} is out of range: the rows have ${width} columns`);
    }
  }

  const featureCount = labelIndex < 0 ? width : width - 1;
  const values = new Float32Array(rows.length * featureCount);
  const rawLabels: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    const { fields, line } = rows[r]!;
    if (fields.length !== width) {
      throw new DataError(file, `row ${line} has ${fields.length} columns, expected ${width}${hasHeader ? " (as in the header)" : " (as in the first row)"}`);
    }
    let k = r * featureCount;
    for (let c = 0; c < width; c++) {
      const field = fields[c]!.trim();
      if (c === labelIndex) {
        if (field === "") throw new DataError(file, `row ${line}: the label (column "${names[c]}") is empty`);
        rawLabels.push(field);
        continue;
      }
      if (!NUMBER.test(field)) {
        const what = field === "" ? "is empty" : `is ${JSON.stringify(field)}, not a number`;
        throw new DataError(file, `row ${line}, column "${names[c]}" ${what}`);
      }
      values[k++] = Number(field);
    }
  }
  const table: CsvTable = {
    columns: names.filter((_, i) => i !== labelIndex),
    features: { shape: [rows.length, featureCount], values },
  };
  if (labelIndex >= 0) {
    const { ids, classes } = classIds(rawLabels, file, options.classes, rows.map((r) => r.line));
    table.labels = { shape: [rows.length], values: ids };
    table.classes = classes;
    table.labelColumn = names[labelIndex];
  }
  return table;
}

/** Class ids for label strings, and the names by id (see {@link CsvTable.classes}); `rows` numbers them in errors. */
export function classIds(labels: string[], file: string, fixed?: string[], rows?: number[]): { ids: Int32Array; classes: string[] } {
  const ids = new Int32Array(labels.length);
  if (fixed) {
    const index = new Map(fixed.map((c, i) => [c, i]));
    labels.forEach((l, i) => {
      const id = index.get(l);
      if (id === undefined) throw new DataError(file, `row ${rows?.[i] ?? i + 1}: label ${JSON.stringify(l)} is not one of the classes: ${fixed.join(", ")}`);
      ids[i] = id;
    });
    return { ids, classes: [...fixed] };
  }
  if (labels.every((l) => /^\d+$/.test(l))) {
    let max = 0;
    labels.forEach((l, i) => {
      ids[i] = Number(l);
      max = Math.max(max, ids[i]!);
    });
    return { ids, classes: Array.from({ length: max + 1 }, (_, i) => String(i)) };
  }
  const classes = [...new Set(labels)].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  labels.forEach((l, i) => (ids[i] = index.get(l)!));
  return { ids, classes };
}

interface CsvRecord {
  fields: string[];
  /** 1-based line the record starts on. */
  line: number;
}

function splitRecords(text: string, file: string, delimiter: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let startLine = 1;
  let quoted = false;
  let quoteLine = 0;
  // NOTE: a record that is one empty field is a blank line, skipped.
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === "")) records.push({ fields, line: startLine });
    fields = [];
    field = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
    } else if (ch === '"' && field.trim() === "") {
      quoted = true;
      quoteLine = line;
      field = "";
    } else if (ch === delimiter) {
      fields.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      field += ch;
    }
  }
  if (quoted) throw new DataError(file, `row ${quoteLine}: a quoted field is never closed`);
  if (field !== "" || fields.length > 0) endRecord();
  return records;
}

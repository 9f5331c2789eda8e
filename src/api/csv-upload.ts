import express from 'express';
import { parse as parseCsv } from 'csv-parse/sync';
import type { z } from 'zod';
import { AppError } from '../errors';

const MAX_ROWS = 5000;

/** A CSV upload's body: browsers send a .csv as Excel's media type where Excel is installed. */
export const csvBody = express.text({ type: ['text/csv', 'text/plain', 'application/csv', 'application/vnd.ms-excel'], limit: '1mb' });

export type CsvRow<T> = { line: number; row: T; errors?: undefined } | { line: number; row?: undefined; errors: string[] };

/** A header cell as people write it: `Mentor ID`, `mentor_id` and `mentorId` name one column. */
const columnKey = (name: string) => name.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

/**
 * The upload's rows, each parsed with `schema` (empty cells left out) or with what is wrong with it, by line. Its
 * first line names the columns, in any case and spelling of the schema's keys; the columns the schema lacks (a
 * spreadsheet's phone or notes) are left out and named in `ignoredColumns`.
 */
export function csvRows<Schema extends z.ZodObject>(body: unknown, schema: Schema): { rows: CsvRow<z.output<Schema>>[]; ignoredColumns: string[] } {
  if (typeof body !== 'string') throw new AppError(415, 'unsupported_media_type', 'Send the CSV as text/csv');
  const keys = Object.keys(schema.shape);
  const byColumnKey = new Map(keys.map((key) => [columnKey(key), key]));
  const named = new Set<string>();
  const ignoredColumns: string[] = [];
  const repeated: string[] = [];
  const header = (cells: string[]) =>
    cells.map((cell) => {
      const key = byColumnKey.get(columnKey(cell));
      if (!key) {
        if (cell !== '') ignoredColumns.push(cell);
        return false;
      }
      if (named.has(key)) repeated.push(key);
      named.add(key);
      return key;
    });
  let records: Record<string, string>[];
  try {
    // Excel writes a byte order mark, and semicolons where the decimal separator is a comma; a row written by hand may
    // leave out its last empty cells.
    records = parseCsv(body, { bom: true, columns: header, delimiter: [',', ';'], relax_column_count_less: true, skip_empty_lines: true, trim: true });
  } catch (error) {
    throw new AppError(400, 'malformed_csv', `The CSV cannot be read: ${(error as Error).message}`);
  }
  const expected = `its first line names the columns: ${keys.join(', ')}`;
  if (repeated.length > 0) throw new AppError(400, 'malformed_csv', `More than one column is ${repeated.join(', ')}: ${expected}`);
  const missing = keys.filter((key) => !named.has(key) && !schema.shape[key].safeParse(undefined).success);
  if (missing.length > 0) throw new AppError(400, 'missing_columns', `The CSV has no column ${missing.join(', ')}: ${expected}`);
  if (records.length > MAX_ROWS) throw new AppError(413, 'too_many_rows', `At most ${MAX_ROWS} rows per upload`);
  const rows = records.map((record, index): CsvRow<z.output<Schema>> => {
    const line = index + 2;
    const parsed = schema.safeParse(Object.fromEntries(Object.entries(record).filter(([, value]) => value !== '')));
    return parsed.success ? { line, row: parsed.data } : { line, errors: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'row'}: ${issue.message}`) };
  });
  return { rows, ignoredColumns };
}

export type RowOutcome<R> = { line: number } & (R | { status: 'error'; errors: string[] });

/**
 * Runs `work` on each row the schema took, one after another. A row the schema refused, or one `work` refuses with a
 * 4xx, is answered with why, and the others go on; anything else stops the upload.
 */
export async function eachRow<T, R extends object>(rows: CsvRow<T>[], work: (row: T) => Promise<R>): Promise<RowOutcome<R>[]> {
  const outcomes: RowOutcome<R>[] = [];
  for (const parsed of rows) {
    const { line } = parsed;
    if (parsed.errors) {
      outcomes.push({ line, status: 'error', errors: parsed.errors });
      continue;
    }
    try {
      outcomes.push({ line, ...(await work(parsed.row)) });
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      outcomes.push({ line, status: 'error', errors: [error.message] });
    }
  }
  return outcomes;
}

import express from 'express';
import { parse as parseCsv } from 'csv-parse/sync';
import type { z } from 'zod';
import { AppError } from '../errors';

const MAX_ROWS = 5000;

/** A CSV upload's body: browsers send a .csv as Excel's media type where Excel is installed. */
export const csvBody = express.text({ type: ['text/csv', 'text/plain', 'application/csv', 'application/vnd.ms-excel'], limit: '1mb' });

export type CsvRow<T> = { line: number; row: T; errors?: undefined } | { line: number; row?: undefined; errors: string[] };

/** The upload's rows, each parsed with `schema` (empty cells left out) or with what is wrong with it, by line. */
export function csvRows<T>(body: unknown, schema: z.ZodType<T>): CsvRow<T>[] {
  if (typeof body !== 'string') throw new AppError(415, 'unsupported_media_type', 'Send the CSV as text/csv');
  let records: Record<string, string>[];
  try {
    // Excel writes a byte order mark, and semicolons where the decimal separator is a comma.
    records = parseCsv(body, { bom: true, columns: true, delimiter: [',', ';'], skip_empty_lines: true, trim: true });
  } catch (error) {
    throw new AppError(400, 'malformed_csv', `The CSV cannot be read: ${(error as Error).message}`);
  }
  if (records.length > MAX_ROWS) throw new AppError(413, 'too_many_rows', `At most ${MAX_ROWS} rows per upload`);
  return records.map((record, index) => {
    const line = index + 2;
    const parsed = schema.safeParse(Object.fromEntries(Object.entries(record).filter(([, value]) => value !== '')));
    return parsed.success ? { line, row: parsed.data } : { line, errors: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'row'}: ${issue.message}`) };
  });
}

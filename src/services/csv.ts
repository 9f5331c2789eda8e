import { stringify } from 'csv-stringify/sync';

export type Cell = string | number | null;

/** A spreadsheet would run a cell that starts with one of these as a formula (a display name is anyone's text). */
const neutralised = (value: Cell) => (typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : (value ?? ''));

/** Rows as CSV a spreadsheet opens safely; the byte order mark makes Excel read it as UTF-8, so names keep their letters. */
export const spreadsheetCsv = (rows: Cell[][]): string => `\uFEFF${stringify(rows.map((row) => row.map(neutralised)))}`;

import { z } from 'zod';

export const DAY_MS = 86_400_000;

const isoDateTime = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 date-time with its time zone, such as 2026-11-01T09:30:00Z or 2026-11-01T11:30:00+02:00',
});
/** One moment, one spelling: what the service answers later is what it answers now. */
const inUtc = (value: string) => new Date(value).toISOString();

const inOurCentury = isoDateTime.refine((value) => {
  const year = new Date(value).getUTCFullYear();
  return year >= 2000 && year <= 2100;
}, 'must be a date between the years 2000 and 2100');

/** A moment as systems send one: ISO 8601 with its time zone (a local time alone names no moment), 2000-2100. */
export const dateTime = inOurCentury.transform(inUtc);

/** A moment a device's clock gave, which may be set to any year; the service judges whether it can be right. */
export const deviceTime = isoDateTime.transform(inUtc);

/** A plain date (the day's start, UTC) or a date-time; a plain `to` date includes that day. */
export const dayOrTime = (end: boolean) =>
  z.union([z.iso.date(), inOurCentury], { error: 'must be a date (2026-11-01) or a date-time (2026-11-01T00:00:00Z)' }).transform((value) =>
    value.length === 10 ? new Date(Date.parse(`${value}T00:00:00Z`) + (end ? DAY_MS : 0)).toISOString() : inUtc(value),
  );

/** A refinement for a query or rule with `from` and `to`: when both are given, `from` comes first. */
export const fromBeforeTo: [(value: { from?: string; to?: string }) => boolean, { message: string; path: string[] }] = [
  (value) => !value.from || !value.to || Date.parse(value.from) < Date.parse(value.to),
  { message: 'from must be before to', path: ['from'] },
];

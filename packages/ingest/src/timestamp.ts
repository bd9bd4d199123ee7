const PATTERN = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * `YYYY-MM-DD HH:MM:SS` or ISO 8601 (`T`, optional fraction, optional `Z` or
 * offset) to epoch milliseconds in UTC; no offset means UTC. Fractions beyond
 * milliseconds are truncated. Returns undefined for anything else, including
 * impossible dates such as 2024-02-30.
 */
export function parseListenTime(text: string): number | undefined {
  const m = PATTERN.exec(text);
  if (!m) return undefined;
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  const hour = +m[4]!;
  const minute = +m[5]!;
  const second = +m[6]!;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = m[7] ? +m[7].slice(0, 3).padEnd(3, '0') : 0;
  const offset = offsetMinutes(m[8]);
  if (offset === undefined) return undefined;
  // Date.UTC reads years 0-99 as 1900-1999: set the year separately.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  date.setUTCFullYear(year);
  // Dates roll 2024-02-30 over to March: a changed day means the date does not exist.
  if (date.getUTCDate() !== day) return undefined;
  return date.getTime() - offset * 60_000;
}

/** Minutes east of UTC; undefined for an impossible offset such as +25:00 or +05:75. */
function offsetMinutes(zone: string | undefined): number | undefined {
  if (!zone || zone === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = +digits.slice(0, 2);
  const minutes = digits.length > 2 ? +digits.slice(2) : 0;
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}

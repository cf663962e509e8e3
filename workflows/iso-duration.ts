/**
 * ISO 8601 durations in weeks, days, hours, minutes and seconds (`PT2H`, `P3D`, `P1W`, `PT90M`,
 * `PT0.5S`). Years and months are refused: their length depends on the calendar. Pure, so both
 * the API (query parameters) and the workflow (deadline extensions) read them the same way.
 */
export const ISO_DURATION_PATTERN =
  /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const UNIT_MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];

/** Milliseconds in an ISO 8601 duration, or undefined if it is not one of the accepted form. */
export function isoDurationMs(text: string): number | undefined {
  const match = ISO_DURATION_PATTERN.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return undefined;
  const parts = match.slice(1);
  if (parts.every((p) => p === undefined)) return undefined;
  return Math.round(parts.reduce((ms, part, i) => ms + (part === undefined ? 0 : Number(part) * UNIT_MS[i]!), 0));
}

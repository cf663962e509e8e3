/**
 * ISO 8601 durations for query parameters (`?olderThan=PT2H`, `P3D`, `P1W`, `PT90M`, `PT0.5S`).
 * Years and months are refused: their length depends on the calendar, and a stuck listing needs
 * an exact cut-off.
 */
import { z } from 'zod';

const DURATION = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const UNIT_MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];

/** Milliseconds in an ISO 8601 duration, or undefined if it is not one this API accepts. */
export function isoDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return undefined;
  const parts = match.slice(1);
  if (parts.every((p) => p === undefined)) return undefined;
  return Math.round(parts.reduce((ms, part, i) => ms + (part === undefined ? 0 : Number(part) * UNIT_MS[i]!), 0));
}

export const IsoDuration = z
  .string()
  .transform((text, ctx) => {
    const ms = isoDurationMs(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 duration in weeks, days, hours, minutes or seconds, e.g. PT2H or P3D' });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'ISO 8601 duration, e.g. PT2H, P3D, P1W', examples: ['PT2H', 'P3D'] });

/**
 * ISO 8601 durations for query parameters (`?olderThan=PT2H`, `P3D`, `P1W`, `PT90M`, `PT0.5S`).
 * Years and months are refused: their length depends on the calendar, and a stuck listing needs
 * an exact cut-off.
 */
import { z } from 'zod';
import { ISO_DURATION_PATTERN as DURATION, isoDurationMs } from '../workflows/iso-duration';

export { isoDurationMs };

/**
 * Longer durations mean the same (longer than anything a refund waits) and are cut to this, so
 * that subtracting one from a date still gives a date.
 */
const MAX_DURATION_MS = 3650 * 86_400_000;

const NOT_A_DURATION = 'must be an ISO 8601 duration in weeks, days, hours, minutes or seconds, e.g. PT2H or P3D';

export const IsoDuration = z
  .string()
  // The rules as patterns, so the OpenAPI document says what is accepted: the units in order,
  // and at least one of them, so neither "P" nor a trailing "T" (the second pattern only refuses
  // what the first lets through, so a bad value gets one message).
  .regex(DURATION, NOT_A_DURATION)
  .regex(/^(?:P.*[WDHMS]|[^P].*)?$/, NOT_A_DURATION)
  .transform((text) => Math.min(isoDurationMs(text)!, MAX_DURATION_MS))
  .meta({ description: 'ISO 8601 duration, e.g. PT2H, P3D, P1W', examples: ['PT2H', 'P3D'] });

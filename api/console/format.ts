/** How the console shows amounts and times to people; handed to every template as `fmt`. */
import { formatMinor } from '../../workflows/currencies';

/** 2026-11-21T09:30:00.000Z → 2026-11-21 09:30:00 UTC */
export const when = (iso: string | null | undefined) => (iso ? `${iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '')} UTC` : '–');

/** How long since `iso`, roughly: 45 s, 12 min, 3 h, 2 days. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3_600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

export const money = (amount: number, currency: string) => formatMinor(amount, currency);

/** A compact one-line rendering of an audit step's data for the timeline. */
export function summary(data: unknown, max = 240): string {
  if (data === undefined || data === null) return '';
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const fmt = { when, ago, money, summary };

/**
 * The run's report, as JSON (for machines and the CI test) and Markdown (for people): refunds by
 * outcome, faults of each kind with the recovery they measured, each invariant's verdict, request
 * latency.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InvariantResult } from './invariant-result';
import type { FaultRecord, Recorder } from './recorder';
import type { ChaosSettings } from './settings';

export interface FaultReport {
  kind: string;
  target: string;
  atSeconds: number;
  downSeconds?: number;
  readyAgainMs?: number;
  nextCompletionMs?: number;
  /** Refunds the driver was waiting on when the process died: how long after the kill each moved on. */
  inFlight: { refunds: number; p50Ms?: number; maxMs?: number };
  error?: string;
}

export interface ChaosReport {
  command: string;
  settings: Omit<ChaosSettings, 'outDir' | 'keep'>;
  startedAt: string;
  durationSeconds: number;
  ok: boolean;
  refunds: {
    planned: number;
    byOutcome: Record<string, number>;
    gaveUp: number;
    /** Why the driver stopped sending for a refund, and answers that refused a step (up to 20 each). */
    gaveUpDetails: string[];
    refusals: string[];
  };
  faults: { byKind: Record<string, number>; each: FaultReport[] };
  invariants: InvariantResult[];
  requests: {
    count: number;
    withoutAnswer: number;
    status5xx: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    slowest: string;
    /** Requests that took 10 s or more, with when they began, to set beside the faults. */
    slow: string[];
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function faultReport(fault: FaultRecord, recorder: Recorder): FaultReport {
  const delays = recorder.waits
    .filter((w) => w.reached && w.from < fault.killedAt && w.to > fault.killedAt)
    .map((w) => w.to - fault.killedAt)
    .sort((a, b) => a - b);
  return {
    kind: fault.kind,
    target: fault.target,
    atSeconds: Math.round((fault.killedAt - recorder.t0) / 100) / 10,
    ...(fault.restartedAt ? { downSeconds: Math.round((fault.restartedAt - fault.killedAt) / 100) / 10 } : {}),
    ...(fault.readyAgainMs !== undefined ? { readyAgainMs: fault.readyAgainMs } : {}),
    ...(fault.nextCompletionMs !== undefined ? { nextCompletionMs: fault.nextCompletionMs } : {}),
    inFlight: {
      refunds: delays.length,
      ...(delays.length ? { p50Ms: Math.round(percentile(delays, 50)), maxMs: Math.round(delays.at(-1)!) } : {}),
    },
    ...(fault.error ? { error: fault.error } : {}),
  };
}

export function requestFigures(recorder: Recorder): ChaosReport['requests'] {
  const answered = recorder.http.filter((c) => typeof c.outcome === 'number');
  const sorted = recorder.http.map((c) => c.ms).sort((a, b) => a - b);
  const slowest = recorder.http.reduce(
    (a, b) => (b.ms > a.ms ? b : a),
    recorder.http[0] ?? { method: '-', route: '-', ms: 0, outcome: 0, startedAt: 0 },
  );
  return {
    count: recorder.http.length,
    withoutAnswer: recorder.http.length - answered.length,
    status5xx: answered.filter((c) => (c.outcome as number) >= 500).length,
    p50Ms: Math.round(percentile(sorted, 50)),
    p99Ms: Math.round(percentile(sorted, 99)),
    maxMs: Math.round(sorted.at(-1) ?? 0),
    slowest: `${slowest.method} ${slowest.route} (${slowest.outcome})`,
    slow: recorder.http
      .filter((c) => c.ms >= 10_000)
      .slice(0, 30)
      .map(
        (c) =>
          `at ${((c.startedAt - recorder.t0) / 1000).toFixed(1)} s: ${c.method} ${c.route} ${c.outcome} after ${(c.ms / 1000).toFixed(1)} s`,
      ),
  };
}

export function faultsOf(recorder: Recorder): ChaosReport['faults'] {
  const each = recorder.faults.map((f) => faultReport(f, recorder));
  const byKind: Record<string, number> = {};
  for (const f of each) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  return { byKind, each };
}

const ms = (value: number | undefined) => (value === undefined ? '–' : `${(value / 1000).toFixed(1)} s`);

export function markdown(report: ChaosReport): string {
  const r = report.requests;
  return [
    `# Chaos run: ${report.ok ? 'all invariants hold' : 'INVARIANTS BROKEN'}`,
    '',
    `\`${report.command}\`, ${report.startedAt}, ${report.durationSeconds} s; seed ${report.settings.seed}, ${report.settings.refunds} refunds, ${report.settings.concurrency} at a time.`,
    '',
    '## Refunds by outcome',
    '',
    '| outcome | refunds |',
    '| --- | ---: |',
    ...Object.entries(report.refunds.byOutcome).map(([state, n]) => `| ${state} | ${n} |`),
    '',
    `The driver gave up on ${report.refunds.gaveUp} (a bound ran out); they are in the states above.`,
    ...report.refunds.gaveUpDetails.map((d) => `- gave up: ${d}`),
    ...report.refunds.refusals.map((d) => `- refused: ${d}`),
    '',
    '## Faults (SIGKILL, then restart)',
    '',
    '| at | process | killed to restarted | /readyz 200 again | next refund finished | refunds in flight: moved on after (p50 / max) |',
    '| ---: | --- | ---: | ---: | ---: | --- |',
    ...report.faults.each.map(
      (f) =>
        `| ${f.atSeconds} s | ${f.target} | ${f.downSeconds ?? '–'} s | ${ms(f.readyAgainMs)} | ${ms(f.nextCompletionMs)} | ${f.inFlight.refunds}: ${ms(f.inFlight.p50Ms)} / ${ms(f.inFlight.maxMs)}${f.error ? ` (${f.error})` : ''} |`,
    ),
    '',
    '## Invariants',
    '',
    '| invariant | holds | detail |',
    '| --- | --- | --- |',
    ...report.invariants.map((i) => `| ${i.name} | ${i.ok ? 'yes' : '**NO**'} | ${i.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`),
    '',
    '## Requests (each HTTP attempt of the typed client)',
    '',
    `${r.count} requests, ${r.withoutAnswer} without an answer (process down), ${r.status5xx} answered 5xx; p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, longest ${r.maxMs} ms (${r.slowest}).`,
    '',
    ...(r.slow.length ? ['Requests of 10 s or more:', '', ...r.slow.map((line) => `- ${line}`), ''] : []),
  ].join('\n');
}

export async function writeReport(report: ChaosReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const json = path.join(outDir, 'latest.json');
  const md = path.join(outDir, 'latest.md');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, markdown(report));
  return [json, md];
}

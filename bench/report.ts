/**
 * The benchmark's outputs: a JSON file with every figure, a Markdown summary (the table the
 * README's Performance section shows) and an SVG chart of throughput and p99 against concurrency.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ApiLoadResult } from './api-load';
import type { StuckListingResult, StuckQueryResult } from './stuck-listing';
import type { ConcurrencySummary, ThroughputResult } from './throughput';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memory: string;
  node: string;
  os: string;
}

export function describeMachine(): Machine {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  let memory = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  try {
    // `free -h`'s total, as people quote it.
    memory = execFileSync('free', ['-h'], { encoding: 'utf8' }).split('\n')[1]?.trim().split(/\s+/)[1] ?? memory;
  } catch {
    // free is not everywhere; the byte count above stands
  }
  return { cpus: os.availableParallelism(), cpuModel, memory, node: process.version, os: `${os.type()} ${os.release()}` };
}

export interface BenchResults {
  startedAt: string;
  command: string;
  quick: boolean;
  machine: Machine;
  settings: Record<string, unknown>;
  /** Worker start-up: spawn until it polls its task queue, and its memory by then. */
  workerStart: { seconds: number; peakRssMiB: number; workflowBundle: string };
  /** Each worker's options as the SDK resolved them (worker/worker-options.ts). */
  workerOptions?: { pipeline: string; baseline: string };
  throughput?: ThroughputResult;
  stuckListing?: StuckListingResult;
  api?: ApiLoadResult;
}

const ms = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : '–');

export function markdownReport(results: BenchResults): string {
  const { machine } = results;
  const lines = [
    `Command: \`${results.command}\`${results.quick ? ' (quick mode)' : ''}, ${results.startedAt}.`,
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memory} memory, Node ${machine.node}, ${machine.os}.`,
    `Worker start-up (spawn to polling): ${results.workerStart.seconds.toFixed(1)} s, peak RSS ${results.workerStart.peakRssMiB} MiB, workflow bundle ${results.workerStart.workflowBundle}.`,
    ...(results.workerOptions
      ? [`Refund worker options: ${results.workerOptions.pipeline}.`, `Baseline worker options: ${results.workerOptions.baseline}.`]
      : []),
    '',
  ];
  const t = results.throughput;
  if (t) {
    lines.push(
      '| concurrency | run | refunds/s | R | worker CPU ms per refund | final approval → payout p50 / p99 ms | end-to-end p50 / p95 / p99 ms | history events per refund (local activities) | PostgreSQL round trips per refund (worker + API) | worker CPU s | worker peak RSS MiB | Temporal / PostgreSQL CPU s |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const row = (s: ConcurrencySummary, kind: 'baseline' | 'pipeline') => {
      const k = s[kind];
      const markers = k.historyEventsByType.MARKER_RECORDED ?? 0;
      return (
        `| ${s.concurrency} | ${kind} | ${k.refundsPerSecond.toFixed(1)} | ${kind === 'pipeline' ? s.ratio.toFixed(2) : ''} | ${k.workerCpuMsPerRefund.toFixed(1)} | ` +
        `${ms(k.finalApprovalToPayoutMs.p50)} / ${ms(k.finalApprovalToPayoutMs.p99)} | ` +
        `${ms(k.endToEndMs.p50)} / ${ms(k.endToEndMs.p95)} / ${ms(k.endToEndMs.p99)} | ` +
        `${k.historyEventsPerRefund.toFixed(1)} (${markers.toFixed(1)}) | ` +
        `${(k.dbRoundTripsPerRefund.worker + k.dbRoundTripsPerRefund.api).toFixed(1)} (${k.dbRoundTripsPerRefund.worker.toFixed(1)} + ${k.dbRoundTripsPerRefund.api.toFixed(1)}) | ` +
        `${k.cpuSeconds.worker.toFixed(1)} | ${k.workerPeakRssMiB} | ${k.cpuSeconds.temporal.toFixed(1)} / ${k.cpuSeconds.postgres.toFixed(1)} |` +
        (k.errors ? ` ${k.errors} errors` : '')
      );
    };
    for (const s of t.summary) lines.push(row(s, 'baseline'), row(s, 'pipeline'));
    const last = t.summary.at(-1);
    const types = (k: 'baseline' | 'pipeline') =>
      Object.entries(last?.[k].historyEventsByType ?? {})
        .sort((a, b) => b[1] - a[1])
        .map(([type, n]) => `${type} ${n.toFixed(1)}`)
        .join(', ');
    lines.push(
      '',
      `R = pipeline ÷ baseline throughput. The baseline peaks at concurrency ${t.baselinePeak.concurrency}, where R = ${t.baselinePeak.ratio.toFixed(2)}. ` +
        'Final approval → payout: from the approver sending the last approval to the payout row (pipeline) or the no-op payout (baseline); ' +
        'history events from a sample of each run; round trips are the top-level statements PostgreSQL ran in the window (pg_stat_statements), ' +
        "the worker's and the load generator's (the API side), per refund finished.",
      '',
      `History events per refund by type at concurrency ${last?.concurrency}: pipeline ${types('pipeline')}; baseline ${types('baseline')}.`,
      '',
      warmUpLine(t),
      '',
    );
  }
  if (results.stuckListing) lines.push(...stuckSection(results.stuckListing));
  const api = results.api;
  if (api) {
    lines.push('Requesting refunds under load (closed loop, new refund each time):', '');
    lines.push('| concurrency | request a refund | requests/s | p50 ms | p99 ms | errors |', '|---:|---|---:|---:|---:|---:|');
    for (const r of api.runs)
      lines.push(`| ${r.concurrency} | ${r.name} | ${r.requestsPerSecond.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.errors} |`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The stuck listing, the stuck summary and the scrape-time gauges over the loaded database. */
function stuckSection(stuck: StuckListingResult): string[] {
  const lines: string[] = [];
  lines.push(
    `Stuck listing over ${stuck.rows.toLocaleString('en')} refunds (${stuck.active.toLocaleString('en')} in flight, ${stuck.stuck.toLocaleString('en')} past their limit):`,
    '',
  );
  lines.push(...comparisonTable(stuck.queries, 'rows', (q) => q.rows), '');
  if (stuck.loadAverage) {
    lines.push(
      `Loaded in ${stuck.loadSeconds} s, ${stuck.databaseMiB?.toLocaleString('en') ?? '?'} MiB on disk; load average ${stuck.loadAverage.start} before loading, ${stuck.loadAverage.loaded} after, ${stuck.loadAverage.end} at the end.`,
      '',
    );
  }
  if (stuck.indexBuilds?.length) {
    lines.push(
      `Before: without ${comparedNames(stuck, 'after')}${comparedNames(stuck, 'before') ? `, with ${comparedNames(stuck, 'before')}` : ''}; after: the schema as migrated.`,
      '',
    );
  }
  if (stuck.aggregates?.length) {
    lines.push(
      'Stuck summary (counts and money by state and currency, as GET /v1/refunds/stuck/summary and the console dashboard ask):',
      '',
      ...comparisonTable(stuck.aggregates, 'refunds counted', (a) => a.counted),
      '',
    );
  }
  if (stuck.gauges?.length) {
    lines.push(
      'Prometheus gauges read at every scrape, by every API replica (store/service-metrics.ts; before: the statements as they were before migration 1796300000000):',
      '',
      ...comparisonTable(stuck.gauges, 'series', (g) => g.rows),
      '',
    );
  }
  return lines;
}

/** What the staff warm-up did before the first run, or that it did not run. */
function warmUpLine(t: ThroughputResult): string {
  const w = t.warmUp;
  if (!w)
    return "No staff warm-up (BENCH_WARM_STAFF=0): the runs include each approver's and scanner's first registry look-up on the worker.";
  return (
    `Before the first run, a staff warm-up (16 in flight, not measured above): ${w.refunds} refunds with two approvals had every approver and scanner sign once, ` +
    `so that each registry entry's endorsements were verified (once per workflow thread) before the clock started; ${w.seconds} s, ` +
    `worker CPU ${w.workerCpuMsPerRefund.toFixed(1)} ms per refund${w.errors ? `, ${w.errors} errors (${w.firstError})` : ''}. BENCH_WARM_STAFF=0 skips it.`
  );
}

function comparedNames(stuck: StuckListingResult, phase: 'before' | 'after'): string {
  return (stuck.indexBuilds ?? [])
    .filter((i) => i.phase === phase)
    .map((i) => `\`${i.name}\` (built in ${i.buildSeconds} s)`)
    .join(', ');
}

/** One line per query and way, with the rounds (before and after, or just one) side by side. */
function comparisonTable<T extends StuckQueryResult>(results: T[], countHeading: string, count: (r: T) => number): string[] {
  const phases = [...new Set(results.map((r) => r.phase ?? 'after'))];
  const lines = [
    `| query | via | ${phases.map((p) => (phases.length > 1 ? `${p}: p50 / p99 ms (calls)` : 'p50 / p99 ms (calls)')).join(' | ')} | ${countHeading} |`,
    `|---|---|${phases.map(() => '---:').join('|')}|---:|`,
  ];
  const keys = [...new Set(results.map((r) => `${r.name}\u0000${r.via}`))];
  for (const key of keys) {
    const [name, via] = key.split('\u0000') as [string, string];
    const cells = phases.map((phase) => {
      const r = results.find((x) => x.name === name && x.via === via && (x.phase ?? 'after') === phase);
      return r ? `${r.ms.p50.toFixed(1)} / ${r.ms.p99.toFixed(1)} (${r.samples ?? '?'})` : '–';
    });
    const last = results.filter((x) => x.name === name && x.via === via).at(-1);
    lines.push(`| ${name} | ${via} | ${cells.join(' | ')} | ${last ? count(last).toLocaleString('en') : ''} |`);
  }
  return lines;
}

/** Two panels, throughput and end-to-end p99 against concurrency, baseline and pipeline. */
export function svgChart(summary: ConcurrencySummary[]): string {
  const panelWidth = 420;
  const panelHeight = 300;
  const margin = { left: 56, right: 16, top: 40, bottom: 44 };
  const colours = { baseline: '#8a8a8a', pipeline: '#1f6feb' } as const;
  const panels = [
    { title: 'Refunds per second', value: (s: ConcurrencySummary, k: 'baseline' | 'pipeline') => s[k].refundsPerSecond },
    { title: 'End-to-end p99 (ms)', value: (s: ConcurrencySummary, k: 'baseline' | 'pipeline') => s[k].endToEndMs.p99 },
  ];
  const parts: string[] = [];
  panels.forEach((panel, index) => {
    const x0 = index * panelWidth;
    const plotW = panelWidth - margin.left - margin.right;
    const plotH = panelHeight - margin.top - margin.bottom;
    const values = summary.flatMap((s) => [panel.value(s, 'baseline'), panel.value(s, 'pipeline')]).filter(Number.isFinite);
    const top = niceCeiling(Math.max(...values, 1) * 1.1);
    const x = (i: number) => x0 + margin.left + (summary.length === 1 ? plotW / 2 : (i * plotW) / (summary.length - 1));
    const y = (v: number) => margin.top + plotH - (v / top) * plotH;
    parts.push(`<text x="${x0 + margin.left}" y="22" font-size="14" font-weight="bold">${panel.title}</text>`);
    for (let tick = 0; tick <= 4; tick++) {
      const v = (top * tick) / 4;
      parts.push(
        `<line x1="${x0 + margin.left}" x2="${x0 + margin.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
        `<text x="${x0 + margin.left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${formatTick(v)}</text>`,
      );
    }
    for (const [i, s] of summary.entries()) {
      parts.push(`<text x="${x(i)}" y="${margin.top + plotH + 18}" font-size="11" text-anchor="middle">${s.concurrency}</text>`);
    }
    parts.push(
      `<text x="${x0 + margin.left + plotW / 2}" y="${panelHeight - 6}" font-size="11" text-anchor="middle">concurrent refunds</text>`,
    );
    for (const kind of ['baseline', 'pipeline'] as const) {
      const points = summary.map((s, i) => [x(i), y(panel.value(s, kind))] as const).filter(([, py]) => Number.isFinite(py));
      parts.push(
        `<polyline fill="none" stroke="${colours[kind]}" stroke-width="2" points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}"/>`,
      );
      for (const [px, py] of points) parts.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${colours[kind]}"/>`);
    }
  });
  const legendX = panelWidth * panels.length - 190;
  parts.push(
    `<rect x="${legendX}" y="8" width="10" height="10" fill="${colours.baseline}"/><text x="${legendX + 14}" y="17" font-size="11">baseline (NullRefund)</text>`,
    `<rect x="${legendX}" y="24" width="10" height="10" fill="${colours.pipeline}"/><text x="${legendX + 14}" y="33" font-size="11">refund pipeline</text>`,
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${panelWidth * panels.length}" height="${panelHeight}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

function niceCeiling(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((c) => c >= v) ?? 10 * magnitude;
}

function formatTick(v: number): string {
  return v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

/**
 * The alert rules and the dashboard in ops/: promtool checks the rules and runs their unit tests
 * (ops/prometheus/refunds.rules.test.yml), and every metric a rule or a dashboard panel names is
 * one the service exports (the API's and the worker's registries) or the Temporal SDK does (its
 * metric names in @temporalio/core-bridge's sources).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../../activities/metrics';
import { createApiMetrics } from '../../api/plugins/metrics';
import type { Pool } from '../../store/pool';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const rules = path.join(root, 'ops/prometheus/refunds.rules.yml');
const rulesTest = path.join(root, 'ops/prometheus/refunds.rules.test.yml');
const dashboard = path.join(root, 'ops/grafana/refunds-dashboard.json');

const promtool = await run('promtool', ['--version']).then(
  () => true,
  () => false,
);
if (!promtool && process.env.CI) throw new Error('promtool is not installed: .ci/run installs it (apt-get install prometheus)');

describe.skipIf(!promtool)('alert rules (promtool)', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', rules]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests, one firing and one quiet case per alert', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', rulesTest]);
    expect(stdout).toContain('SUCCESS');
    const alerts = [...readFileSync(rules, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const cases = readFileSync(rulesTest, 'utf8');
    for (const alert of alerts) {
      const blocks = cases
        .split(/alertname: /)
        .slice(1)
        .filter((block) => block.startsWith(`${alert}\n`));
      expect(
        blocks.some((block) => /exp_alerts:\n\s+- exp_labels/.test(block)),
        `${alert} has a firing case`,
      ).toBe(true);
      expect(
        blocks.some((block) => /exp_alerts: \[\]/.test(block)),
        `${alert} has a quiet case`,
      ).toBe(true);
    }
  });
});
if (!promtool) it.skip('alert rules: promtool is not installed (apt-get install prometheus), so they were not checked', () => undefined);

/** The metric names the service's registries hold; no query runs (nothing is collected). */
function serviceMetricNames(): Set<string> {
  const api = createApiMetrics({} as Pool).registry.getMetricsAsArray();
  const worker = createWorkerMetrics().registry.getMetricsAsArray();
  return new Set([...api, ...worker].map((metric) => metric.name));
}

/** Every quoted snake_case name in the Temporal SDK core's sources, where its metric names are declared. */
function sdkSourceNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const file = path.join(dir, entry);
      if (statSync(file).isDirectory()) walk(file);
      else if (file.endsWith('.rs')) for (const m of readFileSync(file, 'utf8').matchAll(/"([a-z][a-z0-9_]+)"/g)) names.add(m[1]!);
    }
  };
  walk(path.join(root, 'node_modules/@temporalio/core-bridge/sdk-core/crates/common/src/telemetry'));
  walk(path.join(root, 'node_modules/@temporalio/core-bridge/sdk-core/crates/sdk-core/src/telemetry'));
  return names;
}

const service = serviceMetricNames();
const sdk = sdkSourceNames();

/** Whether `name` (as written in a query, perhaps with a histogram suffix) is exported. */
function exported(name: string): boolean {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  if (name.startsWith('temporal_')) return sdk.has(base.slice('temporal_'.length));
  return service.has(name) || service.has(base);
}

/** The metric names an expression mentions: the service's and the SDK's prefixes. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:refunds?|temporal)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

it('the SDK sources name the Temporal metrics the rules and the dashboard use (so the check below means something)', () => {
  expect(sdk.has('workflow_task_schedule_to_start_latency')).toBe(true);
  expect(sdk.has('activity_schedule_to_start_latency')).toBe(true);
  expect(exported('temporal_no_such_metric_bucket')).toBe(false);
  expect(exported('refund_no_such_metric_total')).toBe(false);
});

it('every metric an alert rule names is exported', () => {
  const exprs = [...readFileSync(rules, 'utf8').matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*\n)/g)].map((m) => m[1]!);
  expect(exprs.length).toBeGreaterThanOrEqual(10);
  for (const expr of exprs) {
    const names = metricsIn(expr);
    expect(names.length, expr).toBeGreaterThan(0);
    for (const name of names) expect(exported(name), `${name} in ${expr.trim()}`).toBe(true);
  }
});

describe('the Grafana dashboard', () => {
  const json = JSON.parse(readFileSync(dashboard, 'utf8')) as {
    schemaVersion: number;
    templating: { list: Array<{ name: string; type: string; query: string }> };
    panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }>;
  };

  it('parses, with a Prometheus datasource variable every panel uses', () => {
    expect(json.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(json.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
    const variable = '${datasource}';
    for (const panel of json.panels) expect(panel.datasource.uid, panel.title).toBe(variable);
  });

  it('has the panels operators need, each naming metrics the service or the SDK exports', () => {
    const titles = json.panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const wanted of [
      'by state',
      'stuck',
      'time in state',
      'approval latency',
      'payouts',
      'forgeries',
      'breakers',
      'audit',
      'api request',
      'api latency',
      'schedule-to-start',
    ])
      expect(titles).toContain(wanted);
    for (const panel of json.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        const names = metricsIn(expr);
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) expect(exported(name), `${panel.title}: ${name}`).toBe(true);
      }
    }
  });
});

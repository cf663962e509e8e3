import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';

it('exports the Temporal SDK metrics only when REFUNDS_WORKER_METRICS_ADDRESS names host:port', () => {
  expect(loadConfig({}).sdkMetricsAddress).toBeUndefined();
  expect(loadConfig({ REFUNDS_WORKER_METRICS_ADDRESS: '' }).sdkMetricsAddress).toBeUndefined();
  expect(loadConfig({ REFUNDS_WORKER_METRICS_ADDRESS: '127.0.0.1:9464' }).sdkMetricsAddress).toBe('127.0.0.1:9464');
  expect(loadConfig({ REFUNDS_WORKER_METRICS_ADDRESS: '[::1]:9464' }).sdkMetricsAddress).toBe('[::1]:9464');
});

it.each(['9464', 'localhost', 'http://127.0.0.1:9464', '127.0.0.1:'])(
  'refuses REFUNDS_WORKER_METRICS_ADDRESS=%s, naming the variable',
  (value) => {
    expect(() => loadConfig({ REFUNDS_WORKER_METRICS_ADDRESS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ REFUNDS_WORKER_METRICS_ADDRESS: value })).toThrow(/REFUNDS_WORKER_METRICS_ADDRESS: must be host:port/);
  },
);

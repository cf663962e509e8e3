import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';

it('leaves the cache, the pollers, the V8 context and the workflow threads to the SDK unless set', () => {
  for (const env of [
    {},
    { REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '', REFUNDS_WORKER_REUSE_V8_CONTEXT: '', REFUNDS_WORKER_WORKFLOW_THREADS: '' },
  ]) {
    expect(loadConfig(env)).toMatchObject({
      maxCachedWorkflows: undefined,
      workflowTaskPollers: undefined,
      activityTaskPollers: undefined,
      reuseV8Context: undefined,
      workflowThreads: undefined,
    });
  }
});

it('reads each setting into the configuration', () => {
  expect(
    loadConfig({
      REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '500',
      REFUNDS_WORKER_WORKFLOW_POLLERS: '4',
      REFUNDS_WORKER_ACTIVITY_POLLERS: '6',
      REFUNDS_WORKER_REUSE_V8_CONTEXT: 'false',
      REFUNDS_WORKER_WORKFLOW_THREADS: '3',
    }),
  ).toMatchObject({ maxCachedWorkflows: 500, workflowTaskPollers: 4, activityTaskPollers: 6, reuseV8Context: false, workflowThreads: 3 });
  expect(loadConfig({ REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '0' }).maxCachedWorkflows).toBe(0);
  expect(loadConfig({ REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '2' }).maxCachedWorkflows).toBe(2);
  expect(loadConfig({ REFUNDS_WORKER_REUSE_V8_CONTEXT: 'true' }).reuseV8Context).toBe(true);
  expect(loadConfig({ REFUNDS_WORKER_ACTIVITY_POLLERS: '1' }).activityTaskPollers).toBe(1);
  expect(loadConfig({ REFUNDS_WORKER_WORKFLOW_THREADS: '1' }).workflowThreads).toBe(1);
});

it('takes a single workflow poller only with the cache off (a cached workflow is polled on its sticky queue too)', () => {
  expect(loadConfig({ REFUNDS_WORKER_WORKFLOW_POLLERS: '1', REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '0' }).workflowTaskPollers).toBe(1);
  expect(loadConfig({ REFUNDS_WORKER_WORKFLOW_POLLERS: '2' }).workflowTaskPollers).toBe(2);
  for (const env of [
    { REFUNDS_WORKER_WORKFLOW_POLLERS: '1' },
    { REFUNDS_WORKER_WORKFLOW_POLLERS: '1', REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '10' },
  ]) {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/REFUNDS_WORKER_WORKFLOW_POLLERS: must be at least 2 while workflows are cached/);
  }
});

it.each([
  ['REFUNDS_WORKER_MAX_CACHED_WORKFLOWS', ['-1', '1', '100001', '2.5', '1e3', ' ', 'many']],
  ['REFUNDS_WORKER_WORKFLOW_POLLERS', ['0', '-2', '1001', '4.5', 'ten']],
  ['REFUNDS_WORKER_ACTIVITY_POLLERS', ['0', '-2', '1001', '4.5', 'ten']],
  ['REFUNDS_WORKER_WORKFLOW_THREADS', ['0', '65', '1.5', 'two']],
  ['REFUNDS_WORKER_REUSE_V8_CONTEXT', ['yes', '1', 'TRUE', 'off']],
] as const)('refuses bad values of %s, naming the variable', (name, values) => {
  for (const value of values) {
    expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(new RegExp(`${name}: must be`));
  }
});

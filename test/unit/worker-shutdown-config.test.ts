import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';

it('bounds worker shutdown by REFUNDS_WORKER_SHUTDOWN_GRACE, 10 seconds unless set', () => {
  expect(loadConfig({}).shutdownGraceSeconds).toBe(10);
  expect(loadConfig({ REFUNDS_WORKER_SHUTDOWN_GRACE: '0' }).shutdownGraceSeconds).toBe(0);
  expect(loadConfig({ REFUNDS_WORKER_SHUTDOWN_GRACE: '45' }).shutdownGraceSeconds).toBe(45);
});

it.each(['-1', '3601', '2.5', 'soon'])('refuses REFUNDS_WORKER_SHUTDOWN_GRACE=%s, naming the variable', (value) => {
  expect(() => loadConfig({ REFUNDS_WORKER_SHUTDOWN_GRACE: value })).toThrow(ConfigError);
  expect(() => loadConfig({ REFUNDS_WORKER_SHUTDOWN_GRACE: value })).toThrow(/REFUNDS_WORKER_SHUTDOWN_GRACE/);
});

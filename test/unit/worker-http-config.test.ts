import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';

it('serves worker health only when REFUNDS_WORKER_HTTP_PORT is set, on loopback unless REFUNDS_WORKER_HTTP_HOST says', () => {
  expect(loadConfig({}).workerHttp).toBeUndefined();
  expect(loadConfig({ REFUNDS_WORKER_HTTP_PORT: '' }).workerHttp).toBeUndefined();
  expect(loadConfig({ REFUNDS_WORKER_HTTP_PORT: '0' }).workerHttp).toEqual({ host: '127.0.0.1', port: 0 });
  expect(loadConfig({ REFUNDS_WORKER_HTTP_PORT: '9464', REFUNDS_WORKER_HTTP_HOST: '0.0.0.0' }).workerHttp).toEqual({
    host: '0.0.0.0',
    port: 9464,
  });
});

it.each(['-1', '65536', '80.5', 'health'])('refuses REFUNDS_WORKER_HTTP_PORT=%s, naming the variable', (value) => {
  expect(() => loadConfig({ REFUNDS_WORKER_HTTP_PORT: value })).toThrow(ConfigError);
  expect(() => loadConfig({ REFUNDS_WORKER_HTTP_PORT: value })).toThrow(/REFUNDS_WORKER_HTTP_PORT: must be/);
});

/**
 * `npm start` against a configured cluster connects its API and its worker with the same
 * @temporalio/envconfig options as `node api/main.ts` and `node worker/main.ts` (config/worker.ts):
 * TLS, the API key and the namespace, from TEMPORAL_* variables or from a TOML profile; without a
 * configured cluster it runs a dev server and connects to it by address alone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';
import { configuredTemporal, devServerTemporal } from '../../dev/temporal-target';

let dir: string;
let profiles: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-envconfig-'));
  profiles = path.join(dir, 'temporal.toml');
  await writeFile(
    profiles,
    [
      '[profile.cloud]',
      'address = "refunds.a1b2c.tmprl.cloud:7233"',
      'namespace = "refunds.a1b2c"',
      'api_key = "profile-api-key"',
      '[profile.cloud.tls]',
      'server_name = "refunds.a1b2c.tmprl.cloud"',
      '',
      '[profile.mtls]',
      'address = "temporal.internal:7233"',
      'namespace = "refunds"',
      '[profile.mtls.tls]',
      'client_cert_data = "-----BEGIN CERTIFICATE-----\\nclient\\n-----END CERTIFICATE-----"',
      'client_key_data = "-----BEGIN PRIVATE KEY-----\\nkey\\n-----END PRIVATE KEY-----"',
      '',
      '[profile.namespace-only]',
      'namespace = "elsewhere"',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('hands the API and the worker the TLS and API key settings of TEMPORAL_* variables', () => {
  const env = {
    TEMPORAL_ADDRESS: 'refunds.a1b2c.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'refunds.a1b2c',
    TEMPORAL_API_KEY: 'env-api-key',
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_SERVER_NAME: 'refunds.a1b2c.tmprl.cloud',
  };
  const target = configuredTemporal(env);
  expect(target).toMatchObject({
    address: 'refunds.a1b2c.tmprl.cloud:7233',
    namespace: 'refunds.a1b2c',
    connectionOptions: {
      address: 'refunds.a1b2c.tmprl.cloud:7233',
      apiKey: 'env-api-key',
      tls: { serverNameOverride: 'refunds.a1b2c.tmprl.cloud' },
    },
  });
  // Exactly what the API's and the worker's own entry points load.
  expect(target).toEqual(loadConfig(env).temporal);
});

it('hands them a TOML profile picked with TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE: address, namespace, API key, TLS', () => {
  const cloud = configuredTemporal({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud' });
  expect(cloud).toMatchObject({
    address: 'refunds.a1b2c.tmprl.cloud:7233',
    namespace: 'refunds.a1b2c',
    connectionOptions: { apiKey: 'profile-api-key', tls: { serverNameOverride: 'refunds.a1b2c.tmprl.cloud' } },
  });
  const mtls = configuredTemporal({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'mtls' });
  expect(mtls).toMatchObject({ address: 'temporal.internal:7233', namespace: 'refunds' });
  const pair = (mtls!.connectionOptions.tls as { clientCertPair?: { crt: Uint8Array; key: Uint8Array } }).clientCertPair;
  expect(Buffer.from(pair!.crt).toString()).toContain('client');
  expect(Buffer.from(pair!.key).toString()).toContain('key');
  // A variable still wins over the profile, as for the entry points.
  expect(configuredTemporal({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud', TEMPORAL_API_KEY: 'rotated' })).toMatchObject({
    connectionOptions: { apiKey: 'rotated' },
  });
});

it('runs a dev server, connected to by address alone, when no cluster is named', () => {
  expect(configuredTemporal({})).toBeUndefined();
  // TLS and an API key without an address name no cluster: the dev server speaks neither.
  expect(configuredTemporal({ TEMPORAL_API_KEY: 'stray', TEMPORAL_TLS: 'true' })).toBeUndefined();
  // A profile without an address names none either.
  expect(configuredTemporal({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'namespace-only' })).toBeUndefined();
  expect(devServerTemporal('127.0.0.1:7233', 'default')).toEqual({
    address: '127.0.0.1:7233',
    namespace: 'default',
    connectionOptions: { address: '127.0.0.1:7233' },
  });
});

it('refuses a profile that is not there, as the entry points do', () => {
  expect(() => configuredTemporal({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'missing' })).toThrow(ConfigError);
});

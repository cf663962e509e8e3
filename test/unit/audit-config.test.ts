/**
 * The audit configuration: the checkpoint interval and export file, the pinned public keys, and
 * the worker's key file (owner-readable only, its public key that of its secret key). A bad
 * value stops the process naming the variable.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_CHECKPOINT_FILE_DEFAULT, createAuditKeyFile, loadAuditConfig, loadAuditKey } from '../../config/audit';
import { ConfigError } from '../../config/worker';
import { generateKeyPair } from '../../workflows/statements';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'audit-config-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('loadAuditConfig', () => {
  it('defaults to a checkpoint every five minutes, exported to .data/, no key and no pinned keys', () => {
    expect(loadAuditConfig({})).toEqual({
      keyFile: undefined,
      publicKeys: [],
      checkpointIntervalMs: 300_000,
      checkpointFile: AUDIT_CHECKPOINT_FILE_DEFAULT,
    });
  });

  it('reads the interval as a duration and the pinned keys as a JSON array', () => {
    const { publicKey } = generateKeyPair('audit-a');
    const config = loadAuditConfig({
      REFUNDS_AUDIT_CHECKPOINT_INTERVAL: '30s',
      REFUNDS_AUDIT_PUBLIC_KEYS: JSON.stringify([publicKey]),
      REFUNDS_AUDIT_CHECKPOINT_FILE: '/var/lib/refunds/checkpoints.jsonl',
    });
    expect(config).toMatchObject({
      checkpointIntervalMs: 30_000,
      publicKeys: [publicKey],
      checkpointFile: '/var/lib/refunds/checkpoints.jsonl',
    });
  });

  it('refuses a bad interval or bad pinned keys, naming the variable', () => {
    const fails = (env: Record<string, string>, message: RegExp) => {
      expect(() => loadAuditConfig(env)).toThrow(ConfigError);
      expect(() => loadAuditConfig(env)).toThrow(message);
    };
    fails({ REFUNDS_AUDIT_CHECKPOINT_INTERVAL: 'often' }, /REFUNDS_AUDIT_CHECKPOINT_INTERVAL: must be a duration/);
    fails({ REFUNDS_AUDIT_CHECKPOINT_INTERVAL: '10ms' }, /REFUNDS_AUDIT_CHECKPOINT_INTERVAL: must be a duration of at least a second/);
    fails({ REFUNDS_AUDIT_PUBLIC_KEYS: 'audit-a:abc' }, /REFUNDS_AUDIT_PUBLIC_KEYS: must be a JSON array/);
    fails(
      { REFUNDS_AUDIT_PUBLIC_KEYS: '[{"keyId":"audit-a","alg":"ed25519","publicKey":"short"}]' },
      /REFUNDS_AUDIT_PUBLIC_KEYS: .*publicKey/,
    );
    const { publicKey } = generateKeyPair('audit-a');
    fails({ REFUNDS_AUDIT_PUBLIC_KEYS: JSON.stringify([publicKey, publicKey]) }, /each keyId may appear only once/);
  });
});

describe('the audit key file', () => {
  it('is created readable by its owner only, and reads back to the same key', async () => {
    const file = path.join(dir, 'key.json');
    const created = createAuditKeyFile(file, 'audit-worker-1');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(loadAuditKey(file)).toEqual(created);
    expect(() => createAuditKeyFile(file, 'audit-worker-2')).toThrow(/EEXIST/);
  });

  it('is refused when others may read it, or when its public key is not its secret key’s', async () => {
    const file = path.join(dir, 'shared.json');
    createAuditKeyFile(file, 'audit-worker-3');
    await chmod(file, 0o644);
    expect(() => loadAuditKey(file)).toThrow(/REFUNDS_AUDIT_KEY .*others may read it \(mode 644\)/);
    await chmod(file, 0o600);
    const content = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...content, publicKey: generateKeyPair('other').publicKey.publicKey }), { mode: 0o600 });
    expect(() => loadAuditKey(file)).toThrow(/its publicKey is not the public key of its secretKey/);
    expect(() => loadAuditKey(path.join(dir, 'missing.json'))).toThrow(/REFUNDS_AUDIT_KEY .*missing\.json: ENOENT/);
  });
});

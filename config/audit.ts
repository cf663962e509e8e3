/**
 * The audit trail's keys and checkpoints, read and validated once at start: the worker signs
 * checkpoints with its audit key (REFUNDS_AUDIT_KEY), verifiers (the API's `audit verify`) check
 * them against the pinned public keys (REFUNDS_AUDIT_PUBLIC_KEYS). docs/configuration.md lists the
 * variables; docs/operations.md, "Audit trail", how checkpoints work.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { describeIssues } from '../workflows/schemas';
import {
  Alg,
  Base64urlBytes,
  base64urlDecode,
  base64urlEncode,
  generateKeyPair,
  KeyId,
  PublicKey,
  publicKeyOf,
} from '../workflows/statements';
import { ConfigError } from './worker';

export const AUDIT_CHECKPOINT_INTERVAL_DEFAULT_MS = 5 * 60_000;
export const AUDIT_CHECKPOINT_FILE_DEFAULT = '.data/audit-checkpoints.jsonl';

export interface AuditConfig {
  /** The worker's audit key file; without one the worker writes no checkpoints. */
  keyFile: string | undefined;
  /** The keys checkpoints must be signed with, for verifiers. */
  publicKeys: PublicKey[];
  checkpointIntervalMs: number;
  /** Where checkpoints are exported (the worker appends, verifiers compare). */
  checkpointFile: string;
}

const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

const interval = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return AUDIT_CHECKPOINT_INTERVAL_DEFAULT_MS;
      try {
        const ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
        if (ms >= 1000) return ms;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'must be a duration of at least a second, such as "30s", "5m" or "1 hour"' });
      return z.NEVER;
    }),
);

const PinnedKeys = z
  .array(PublicKey)
  .refine((keys) => new Set(keys.map((k) => k.keyId)).size === keys.length, 'each keyId may appear only once');

const publicKeys = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return [];
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {"keyId","alg":"ed25519","publicKey"}' });
        return z.NEVER;
      }
      const parsed = PinnedKeys.safeParse(raw);
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: describeIssues(parsed.error, { root: '(root)' }) });
      return z.NEVER;
    }),
);

const AuditEnv = z.object({
  REFUNDS_AUDIT_KEY: z.preprocess(unsetIfEmpty, z.string().optional()),
  REFUNDS_AUDIT_PUBLIC_KEYS: publicKeys,
  REFUNDS_AUDIT_CHECKPOINT_INTERVAL: interval,
  REFUNDS_AUDIT_CHECKPOINT_FILE: z.preprocess(unsetIfEmpty, z.string().default(AUDIT_CHECKPOINT_FILE_DEFAULT)),
});

export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const parsed = AuditEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid audit configuration: ${describeIssues(parsed.error)}`);
  const vars = parsed.data;
  return {
    keyFile: vars.REFUNDS_AUDIT_KEY,
    publicKeys: vars.REFUNDS_AUDIT_PUBLIC_KEYS,
    checkpointIntervalMs: vars.REFUNDS_AUDIT_CHECKPOINT_INTERVAL,
    checkpointFile: vars.REFUNDS_AUDIT_CHECKPOINT_FILE,
  };
}

/** The audit key file: an Ed25519 key pair, secret key and public key as unpadded base64url. */
export const AuditKeyFile = z.strictObject({
  keyId: KeyId(),
  alg: Alg,
  secretKey: Base64urlBytes('secretKey', 32),
  publicKey: z.string(),
});

export interface AuditKey {
  keyId: string;
  secretKey: Uint8Array;
  /** What verifiers pin (an entry of REFUNDS_AUDIT_PUBLIC_KEYS). */
  publicKey: PublicKey;
}

/** Reads the audit key file; refuses one others can read, or whose public key is not its secret key's. */
export function loadAuditKey(file: string): AuditKey {
  const fail = (why: string) => new ConfigError(`REFUNDS_AUDIT_KEY ${file}: ${why}`);
  let raw: unknown;
  try {
    const mode = statSync(file).mode;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw fail(`others may read it (mode ${(mode & 0o777).toString(8)}): make it readable by its owner only (chmod 600)`);
    }
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw error instanceof ConfigError ? error : fail((error as Error).message);
  }
  const parsed = AuditKeyFile.safeParse(raw);
  if (!parsed.success) throw fail(`is not an audit key file: ${describeIssues(parsed.error, { root: '(root)' })}`);
  const secretKey = base64urlDecode(parsed.data.secretKey)!;
  const publicKey = publicKeyOf(parsed.data.keyId, secretKey);
  if (publicKey.publicKey !== parsed.data.publicKey) throw fail('its publicKey is not the public key of its secretKey');
  return { keyId: parsed.data.keyId, secretKey, publicKey };
}

/** Creates a new audit key file (readable by its owner only); refuses to overwrite one. */
export function createAuditKeyFile(file: string, keyId: string): AuditKey {
  const { secretKey, publicKey } = generateKeyPair(keyId);
  const content = { keyId: publicKey.keyId, alg: 'ed25519', secretKey: base64urlEncode(secretKey), publicKey: publicKey.publicKey };
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { keyId: publicKey.keyId, secretKey, publicKey };
}

/**
 * npm start's audit key: REFUNDS_AUDIT_KEY when set, otherwise .data/audit-key.json, created on
 * the first start (readable by its owner only). Its public key is pinned for the API's
 * verification together with any REFUNDS_AUDIT_PUBLIC_KEYS; checkpoints are exported to
 * REFUNDS_AUDIT_CHECKPOINT_FILE or .data/audit-checkpoints.jsonl.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createAuditKeyFile, loadAuditConfig, loadAuditKey, type AuditKey } from '../config/audit';
import type { PublicKey } from '../workflows/statements';

export interface DemoAudit {
  keyFile: string;
  key: AuditKey;
  created: boolean;
  checkpointFile: string;
  /** The keys the API verifies checkpoints with: the configured ones and this key. */
  publicKeys: PublicKey[];
  intervalMs: number;
}

export function ensureDemoAuditKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): DemoAudit {
  const config = loadAuditConfig(env);
  const keyFile = config.keyFile ?? path.join(dataDir, 'audit-key.json');
  const created = !config.keyFile && !existsSync(keyFile);
  const key = created ? createAuditKeyFile(keyFile, 'audit-demo-1') : loadAuditKey(keyFile);
  const configured = config.publicKeys.filter((k) => k.keyId !== key.keyId);
  return {
    keyFile,
    key,
    created,
    checkpointFile: env.REFUNDS_AUDIT_CHECKPOINT_FILE ? config.checkpointFile : path.join(dataDir, 'audit-checkpoints.jsonl'),
    publicKeys: [...configured, key.publicKey],
    intervalMs: config.checkpointIntervalMs,
  };
}

/**
 * The worker's audit key: `node --import tsx worker/audit-key.ts new <file> [keyId]` creates one
 * (readable by its owner only) for REFUNDS_AUDIT_KEY; `… public <file>` prints its public key,
 * the entry verifiers pin in REFUNDS_AUDIT_PUBLIC_KEYS. Both print that entry as JSON.
 */
import { hostname } from 'node:os';
import { ConfigError } from '../config/worker';
import { createAuditKeyFile, loadAuditKey } from '../config/audit';

const usage = [
  'usage: node --import tsx worker/audit-key.ts new <file> [keyId]   create an audit key file and print its public key',
  '       node --import tsx worker/audit-key.ts public <file>        print the public key to pin in REFUNDS_AUDIT_PUBLIC_KEYS',
].join('\n');

function main(args: string[]): void {
  const [command, file, keyId] = args;
  if (!file || (command !== 'new' && command !== 'public') || (command === 'public' && keyId)) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const defaultId = `audit-${hostname()
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')}-${new Date().toISOString().slice(0, 10)}`;
  const key = command === 'new' ? createAuditKeyFile(file, keyId ?? defaultId) : loadAuditKey(file);
  console.log(JSON.stringify(key.publicKey));
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message);
  process.exitCode = 1;
}

/**
 * The demo data a local stack with its own embedded database gets (npm start, npm run cluster):
 * principals for every role with API keys and carrier signing keys (dev/demo-credentials.ts), the
 * demo trust roots with signing keys and endorsed registry entries (dev/demo-registry.ts), the demo
 * admins' API keys (dev/demo-admins.ts), all under the stack's data directory; and, once the API
 * serves, the demo refund waiting for approval (dev/demo-refund.ts).
 */
import path from 'node:path';
import type { CarrierSecrets } from '../client/carrier-signature';
import { ensureDemoAdmins } from './demo-admins';
import { demoPrincipals, ensureDemoCredentials } from './demo-credentials';
import { DEMO_ADMINS, ensureDemoRegistry } from './demo-registry';
import { DEMO_REFUND_ID, ensureDemoRefund } from './demo-refund';

export interface DemoData {
  /** The demo carriers' keys (unless the caller configured its own). */
  carrierSecrets: CarrierSecrets;
  /** The demo trust roots, which the workers pin. */
  trustRootsFile: string;
  /** <dataDir>/demo-credentials.json: API keys per principal, carrier keys. */
  credentialsFile: string;
  /** <dataDir>/keys: each demo principal's signing key, <id>.json. */
  keysDir: string;
}

/**
 * Creates what is missing, keeps what is there, and says what it did (paths relative to the
 * working directory). `carrierSecrets`: configured carrier keys, used instead of the demo ones.
 */
export async function ensureDemoData(opts: {
  ownerUrl: string;
  dataDir: string;
  say: (line: string) => void;
  carrierSecrets?: CarrierSecrets | undefined;
}): Promise<DemoData> {
  const { ownerUrl, dataDir, say } = opts;
  const credentialsFile = path.join(dataDir, 'demo-credentials.json');
  // Principals are the owner's to write; the service role only reads them.
  const demo = await ensureDemoCredentials(ownerUrl, credentialsFile);
  const where = path.relative(process.cwd(), credentialsFile);
  const carriers = Object.keys(demo.credentials.carrierSecrets).join(', ');
  say(`Demo credentials  ${where}  (${demo.created ? 'created: ' : ''}API keys per role, carrier signing keys for ${carriers})`);
  const registry = await ensureDemoRegistry(ownerUrl, dataDir, demoPrincipals);
  const registered = registry.registered.length ? `; registered now: ${registry.registered.join(', ')}` : '';
  say(
    `Signing keys      ${path.relative(process.cwd(), registry.keysDir)}/<id>.json  (REFUNDS_SIGNING_KEY for request, approve, reject and scan${registered})`,
  );
  // The demo admins also call the API (refunds principal approve) with admin API keys of their own.
  const admins = await ensureDemoAdmins(ownerUrl, credentialsFile, DEMO_ADMINS);
  say(
    `Demo admins       ${DEMO_ADMINS.join(', ')}: API keys in ${where}${admins.length ? ` (issued now: ${admins.join(', ')})` : ''}, trust-root keys ${path.relative(process.cwd(), path.join(dataDir, 'registry'))}/<id>.key.json`,
  );
  return {
    carrierSecrets: opts.carrierSecrets ?? demo.credentials.carrierSecrets,
    trustRootsFile: registry.trustRootsFile,
    credentialsFile,
    keysDir: registry.keysDir,
  };
}

/** The demo refund, left waiting for the demo approver on the first start; a failure is reported, not thrown. */
export async function leaveDemoRefund(opts: {
  apiUrl: string;
  demo: DemoData;
  say: (line: string) => void;
  stopping: () => boolean;
}): Promise<void> {
  try {
    const demo = await ensureDemoRefund({ apiUrl: opts.apiUrl, credentialsFile: opts.demo.credentialsFile, keysDir: opts.demo.keysDir });
    if (demo.created) opts.say(`Demo refund       ${DEMO_REFUND_ID} created: ${demo.state} (emp-approver-1 sees it in the console)`);
  } catch (err) {
    if (!opts.stopping())
      process.stderr.write(`The demo refund ${DEMO_REFUND_ID} could not be created: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

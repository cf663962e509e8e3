/**
 * The carriers' webhook signing keys. REFUNDS_CARRIER_SECRETS names a JSON file
 * `{ "ups": [{ "keyId": "ups-2026-11", "secret": "…" }, …], "dhl": [...] }`: each carrier its own
 * keys, several at once while one rotates. A key id names one key in the whole file, and no
 * secret serves two carriers, so a carrier can only ever sign for itself.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CARRIER_KEY_ID_PATTERN, type CarrierSecrets } from './carrier-signature';
import { describeIssues } from '../workflows/schemas';
import { ConfigError } from './errors';

export const CARRIER_SECRETS_VARIABLE = 'REFUNDS_CARRIER_SECRETS';
/** Carrier names as configured: canonical (lowercase), so `UPS` and `ups` cannot be two carriers. */
export const CARRIER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const CARRIER_SECRET_MIN_LENGTH = 32;

const CarrierKeyEntry = z.strictObject({
  keyId: z
    .string({ error: 'must be a string' })
    .regex(CARRIER_KEY_ID_PATTERN, 'must be 1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit'),
  secret: z
    .string({ error: 'must be a string' })
    .min(CARRIER_SECRET_MIN_LENGTH, `must be at least ${CARRIER_SECRET_MIN_LENGTH} characters (e.g. openssl rand -hex 32)`),
});

/** Names, unique key ids, one carrier per secret; every issue points at the carrier or key at fault. */
function checkKeyring(file: Record<string, Array<{ keyId: string; secret: string }>>, ctx: z.RefinementCtx): void {
  const keyIds = new Map<string, string>();
  const secrets = new Map<string, string>();
  if (Object.keys(file).length === 0) ctx.addIssue({ code: 'custom', path: [], message: 'must configure at least one carrier' });
  for (const [carrier, keys] of Object.entries(file)) {
    if (!CARRIER_NAME_PATTERN.test(carrier)) {
      const hint = carrier.toLowerCase() !== carrier ? ` (write it as ${JSON.stringify(carrier.toLowerCase())})` : '';
      ctx.addIssue({ code: 'custom', path: [carrier], message: `carrier names must be 1 to 64 of a-z 0-9 . _ - in lowercase${hint}` });
    }
    keys.forEach((key, index) => {
      const usedBy = keyIds.get(key.keyId);
      if (usedBy)
        ctx.addIssue({ code: 'custom', path: [carrier, index, 'keyId'], message: `key id ${key.keyId} is already used by ${usedBy}` });
      else keyIds.set(key.keyId, `${carrier}.${index}`);
      const owner = secrets.get(key.secret);
      if (owner && owner !== carrier) {
        ctx.addIssue({
          code: 'custom',
          path: [carrier, index, 'secret'],
          message: `the same secret is configured for ${owner}; each carrier needs its own`,
        });
      } else secrets.set(key.secret, carrier);
    });
  }
}

/** The file's shape; also what `npm start` writes into its demo credentials. */
export const CarrierSecretsFile = z
  .record(z.string(), z.array(CarrierKeyEntry, { error: 'must be a list of { "keyId", "secret" }' }).min(1, 'must list at least one key'), {
    error: 'must be a JSON object of carrier names to lists of { "keyId", "secret" }',
  })
  .superRefine(checkKeyring);

/** Validated keys, or the issues in words (`dhl.0.secret: must be at least 32 characters`). */
export function parseCarrierSecrets(raw: unknown): { ok: true; secrets: CarrierSecrets } | { ok: false; issues: string } {
  const parsed = CarrierSecretsFile.safeParse(raw);
  return parsed.success ? { ok: true, secrets: parsed.data } : { ok: false, issues: describeIssues(parsed.error, { root: '(root)' }) };
}

/** Reads and validates the file; anything wrong stops the process naming the variable, the file and the key. */
export function loadCarrierSecretsFile(path: string): CarrierSecrets {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(`${CARRIER_SECRETS_VARIABLE} ${path}: ${reason}`);
  }
  const parsed = parseCarrierSecrets(raw);
  if (!parsed.ok) throw new ConfigError(`${CARRIER_SECRETS_VARIABLE} ${path} is invalid: ${parsed.issues}`);
  return parsed.secrets;
}

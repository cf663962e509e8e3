/**
 * Signing key files: a principal's Ed25519 secret key, as JSON `{ principalId, keyId, secretKey }`
 * (the secret key in unpadded base64url), readable by its owner only (mode 0600). `refunds-admin
 * principal add` writes one; `refunds request|approve|reject|scan` signs with the one REFUNDS_SIGNING_KEY names.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeIssues } from '../../workflows/schemas';
import { Base64urlBytes, base64urlDecode, base64urlEncode, KeyId, PrincipalId } from '../../workflows/statements';
import type { SigningKey } from '../refunds-api-client';
import { UsageError } from './runtime';

export const SigningKeyFile = z.strictObject({
  principalId: PrincipalId('principalId'),
  keyId: KeyId(),
  secretKey: Base64urlBytes('secretKey', 32),
});
export type SigningKeyFile = z.infer<typeof SigningKeyFile>;

/** Reads a key file; `variable` names where its path came from, for the error message. */
export async function readSigningKeyFile(path: string, variable = 'REFUNDS_SIGNING_KEY'): Promise<SigningKey & { secretKey: Uint8Array }> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${variable} ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new UsageError(`${variable} ${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${variable} ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = SigningKeyFile.safeParse(raw);
  if (!parsed.success) throw new UsageError(`${variable} ${path} is invalid: ${describeIssues(parsed.error, { root: '(root)' })}`);
  return { ...parsed.data, secretKey: base64urlDecode(parsed.data.secretKey)! };
}

/** Writes a key file readable by its owner only; refuses to overwrite one. */
export async function writeSigningKeyFile(path: string, key: { principalId: string; keyId: string; secretKey: Uint8Array }): Promise<void> {
  const body: SigningKeyFile = { principalId: key.principalId, keyId: key.keyId, secretKey: base64urlEncode(key.secretKey) };
  await writeFile(path, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot write the key file ${path}: ${error.code === 'EEXIST' ? 'it already exists' : error.message}`);
  });
  await chmod(path, 0o600);
}

/** REFUNDS_TRUST_ROOTS: read and validated once at start; a bad file stops the process naming the variable. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';
import { generateKeyPair } from '../../workflows/statements';

const dir = mkdtempSync(path.join(os.tmpdir(), 'trust-roots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, content);
  return at;
};
const root = (adminId: string) => ({ adminId, ...generateKeyPair(`${adminId}.k1`).publicKey });

it('loads a valid trust roots file, and has none without the variable', () => {
  const valid = file('valid.json', JSON.stringify({ admins: [root('admin-a'), root('admin-b')] }));
  expect(loadConfig({ REFUNDS_TRUST_ROOTS: valid }).trustRoots?.admins.map((a) => a.adminId)).toEqual(['admin-a', 'admin-b']);
  expect(loadConfig({}).trustRoots).toBeUndefined();
});

it.each([
  ['a missing file', path.join(dir, 'nope.json'), /REFUNDS_TRUST_ROOTS .*nope\.json: ENOENT/],
  ['a file that is not JSON', file('bad.json', '{admins'), /REFUNDS_TRUST_ROOTS .*bad\.json: /],
  [
    'one admin only',
    file('one.json', JSON.stringify({ admins: [root('admin-a')] })),
    /admins: admins must name at least two distinct admins/,
  ],
  [
    'a key that is not a key',
    file('weak.json', JSON.stringify({ admins: [root('admin-a'), { ...root('admin-b'), publicKey: 'AAAA' }] })),
    /REFUNDS_TRUST_ROOTS .* is invalid: admins\.1\.publicKey/,
  ],
])('stops on %s, naming the variable', (_what, at, message) => {
  expect(() => loadConfig({ REFUNDS_TRUST_ROOTS: at })).toThrow(ConfigError);
  expect(() => loadConfig({ REFUNDS_TRUST_ROOTS: at })).toThrow(message);
});

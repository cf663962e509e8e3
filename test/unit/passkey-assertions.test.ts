/**
 * Passkey-signed decisions (workflows/statements/webauthn.ts): a software authenticator built here
 * from node:crypto signs assertions as a browser and an authenticator would, and the verifier must
 * take the genuine one (a high-S signature too) and refuse every bent one with its own rule; then
 * the same through verifyStatement, with a passkey in a registry entry that two admins endorsed.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalBytes,
  challengeOf,
  endorseEntry,
  generateKeyPair,
  newNonce,
  PasskeyKey,
  RegistryEntry,
  resolvePrincipal,
  sha256Hex,
  signStatement,
  SigningInputError,
  statementId,
  TrustRoots,
  verifyAssertion,
  verifyStatement,
  type DecisionStatement,
  type PasskeySigned,
  type RegistryRecords,
} from '../../workflows/statements';
import { describeEntry } from '../../client/cli/commands/principals';
import { createSoftwareAuthenticator, FLAGS, isHighS, type AssertionOptions } from '../support/software-authenticator';

const RP_ID = 'localhost';
const ORIGIN = 'http://localhost:3000';
const seed = (n: number) => new Uint8Array(32).fill(n);

const ada = generateKeyPair('ada.k1', seed(1));
const bob = generateKeyPair('bob.k1', seed(2));
const roots = TrustRoots.parse({
  admins: [
    { adminId: 'ada', ...ada.publicKey },
    { adminId: 'bob', ...bob.publicKey },
  ],
});
const ADMINS = [
  { adminId: 'ada', keyId: 'ada.k1', secretKey: ada.secretKey },
  { adminId: 'bob', keyId: 'bob.k1', secretKey: bob.secretKey },
];

const authenticator = createSoftwareAuthenticator({ rpId: RP_ID, origin: ORIGIN });
const passkey: PasskeyKey = PasskeyKey.parse({
  keyId: 'alice.passkey',
  alg: 'webauthn-es256',
  publicKey: authenticator.publicKey,
  credentialId: authenticator.credentialId,
  rpId: RP_ID,
  origin: ORIGIN,
});
const aliceEd = generateKeyPair('alice.k1', seed(10));

const NOW = new Date();
const entry = RegistryEntry.parse({
  kind: 'registry_entry',
  principalId: 'alice',
  version: 1,
  roles: ['approver'],
  approvalLimits: { USD: 500_000 },
  keys: [aliceEd.publicKey, passkey],
  status: 'active',
  issuedAt: new Date(NOW.getTime() - 60_000).toISOString(),
});
const endorsed: RegistryRecords = { entries: [{ entry, endorsements: ADMINS.map((a) => endorseEntry(entry, a)) }], revocations: [] };

function decision(overrides: Partial<DecisionStatement> = {}): DecisionStatement {
  return {
    kind: 'decision',
    refundId: 'r-1',
    amount: 150_000,
    currency: 'USD',
    decision: 'approve',
    reason: 'serial matches',
    approverId: 'alice',
    keyId: 'alice.passkey',
    alg: 'webauthn-es256',
    signedAt: new Date(NOW.getTime() - 1_000).toISOString(),
    nonce: newNonce(),
    ...overrides,
  };
}

function passkeySigned(statement: DecisionStatement, bend: AssertionOptions = {}): PasskeySigned<DecisionStatement> {
  return { statement, assertion: authenticator.assert(challengeOf(canonicalBytes(statement)), bend) };
}

const expectation = { kind: 'decision', role: 'approver', refundId: 'r-1', amount: 150_000, currency: 'USD', at: NOW } as const;
const verify = (signed: unknown, records: RegistryRecords = endorsed) =>
  verifyStatement(signed, resolvePrincipal(records, 'alice', roots, NOW), expectation);

describe('verifyAssertion', () => {
  const statement = decision();
  const bytes = canonicalBytes(statement);
  const challenge = challengeOf(bytes);

  it('takes the genuine assertion of the statement, and its challenge is base64url(SHA-256(canonical bytes))', () => {
    expect(challenge).toBe(Buffer.from(sha256Hex(bytes), 'hex').toString('base64url'));
    expect(verifyAssertion(authenticator.assert(challenge), bytes, passkey)).toBeUndefined();
  });

  it('takes a high-S signature (authenticators do not normalise S) as well as a low-S one', () => {
    const high = authenticator.assert(challenge, { s: 'high' });
    const low = authenticator.assert(challenge, { s: 'low' });
    expect(isHighS(high.signature)).toBe(true);
    expect(isHighS(low.signature)).toBe(false);
    expect(verifyAssertion(high, bytes, passkey)).toBeUndefined();
    expect(verifyAssertion(low, bytes, passkey)).toBeUndefined();
  });

  it.each<[string, () => ReturnType<typeof authenticator.assert>, string]>([
    ['a challenge for another statement', () => authenticator.assert(challengeOf(canonicalBytes(decision()))), 'challenge_mismatch'],
    ['another origin', () => authenticator.assert(challenge, { origin: 'https://phish.example' }), 'origin_mismatch'],
    ['a cross-origin frame', () => authenticator.assert(challenge, { crossOrigin: true }), 'origin_mismatch'],
    ['another relying party', () => authenticator.assert(challenge, { rpId: 'evil.example' }), 'rp_id_mismatch'],
    ['no user presence', () => authenticator.assert(challenge, { flags: FLAGS.userVerified }), 'user_not_present'],
    ['no user verification', () => authenticator.assert(challenge, { flags: FLAGS.userPresent }), 'user_not_verified'],
    ['a registration ceremony', () => authenticator.assert(challenge, { type: 'webauthn.create' }), 'wrong_client_data_type'],
    [
      'another key',
      () => authenticator.assert(challenge, { signWith: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }),
      'bad_signature',
    ],
    [
      'clientDataJSON that is not JSON',
      () => authenticator.assert(challenge, { clientDataBytes: Buffer.from('{"type":') }),
      'malformed_assertion',
    ],
    [
      'clientDataJSON that is not UTF-8',
      () => authenticator.assert(challenge, { clientDataBytes: Buffer.from([0x7b, 0xff, 0x7d]) }),
      'malformed_assertion',
    ],
    [
      'clientDataJSON that is an array',
      () => authenticator.assert(challenge, { clientDataBytes: Buffer.from('[1]') }),
      'malformed_assertion',
    ],
  ])('refuses an assertion with %s', (_what, make, rule) => {
    expect(verifyAssertion(make(), bytes, passkey)?.rule).toBe(rule);
  });

  it('refuses a tampered authenticatorData, clientDataJSON or signature, and malformed base64url', () => {
    const genuine = authenticator.assert(challenge);
    const flip = (text: string, at: number) => {
      const bytes = Buffer.from(text, 'base64url');
      bytes[at] = bytes[at]! ^ 1;
      return bytes.toString('base64url');
    };
    // Raising the counter, say, or setting a flag the authenticator did not.
    expect(verifyAssertion({ ...genuine, authenticatorData: flip(genuine.authenticatorData, 36) }, bytes, passkey)?.rule).toBe(
      'bad_signature',
    );
    expect(verifyAssertion({ ...genuine, clientDataJSON: flip(genuine.clientDataJSON, 5) }, bytes, passkey)?.rule).toBe('bad_signature');
    expect(verifyAssertion({ ...genuine, signature: flip(genuine.signature, 10) }, bytes, passkey)?.rule).toBe('bad_signature');
    expect(verifyAssertion({ ...genuine, signature: 'AAAA' }, bytes, passkey)?.rule).toBe('bad_signature');
    expect(verifyAssertion({ ...genuine, authenticatorData: 'AAAA' }, bytes, passkey)?.rule).toBe('malformed_assertion');
    expect(verifyAssertion({ ...genuine, clientDataJSON: 'A' }, bytes, passkey)?.rule).toBe('malformed_assertion');
    expect(verifyAssertion({ ...genuine, signature: 'a+b/' }, bytes, passkey)?.rule).toBe('malformed_assertion');
  });

  it('refuses the genuine assertion under another registered origin or relying party', () => {
    const genuine = authenticator.assert(challenge);
    expect(verifyAssertion(genuine, bytes, { ...passkey, origin: 'https://refunds.example.com' })?.rule).toBe('origin_mismatch');
    expect(verifyAssertion(genuine, bytes, { ...passkey, rpId: 'refunds.example.com' })?.rule).toBe('rp_id_mismatch');
  });
});

describe('passkey keys in the registry', () => {
  it('takes a passkey beside an Ed25519 key, and leaves an Ed25519-only entry’s canonical form as it was', () => {
    expect(resolvePrincipal(endorsed, 'alice', roots, NOW)).toMatchObject({ ok: true, principal: { keys: [aliceEd.publicKey, passkey] } });
    const edOnly = { ...entry, keys: [aliceEd.publicKey] };
    expect(new TextDecoder().decode(canonicalBytes(RegistryEntry.parse(edOnly)))).toContain(
      `"keys":[{"alg":"ed25519","keyId":"alice.k1","publicKey":"${aliceEd.publicKey.publicKey}"}]`,
    );
    expect(new TextDecoder().decode(canonicalBytes(entry))).toContain(
      `{"alg":"webauthn-es256","credentialId":"${passkey.credentialId}","keyId":"alice.passkey","origin":"${ORIGIN}","publicKey":"${passkey.publicKey}","rpId":"localhost"}`,
    );
  });

  it.each([
    ['a point off the curve', { publicKey: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url') }, 'publicKey'],
    ['a compressed point', { publicKey: Buffer.alloc(33, 2).toString('base64url') }, 'publicKey'],
    ['an IP address as rpId', { rpId: '127.0.0.1' }, 'rpId'],
    ['an origin with a path', { origin: 'http://localhost:3000/console' }, 'origin'],
    ['an unknown alg', { alg: 'webauthn-rs256' }, 'alg'],
    ['no credential id', { credentialId: '' }, 'credentialId'],
  ])('refuses a passkey key with %s', (_what, bend, field) => {
    const parsed = RegistryEntry.safeParse({ ...entry, keys: [{ ...passkey, ...bend }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.at(-1))).toContain(field);
  });

  it('shows an admin the passkey’s credential id, relying party and origin (refunds principal show)', () => {
    const shown = describeEntry({
      version: 1,
      entryHash: sha256Hex(canonicalBytes(entry)),
      entry,
      endorsements: [],
      counts: false,
      current: false,
      addedAt: NOW.toISOString(),
    });
    expect(shown).toContain(`alice.k1 ${aliceEd.publicKey.publicKey}`);
    expect(shown).toContain(
      `alice.passkey passkey ${passkey.credentialId} (rpId localhost, origin ${ORIGIN}, public key ${passkey.publicKey})`,
    );
  });

  it('does not sign a passkey statement with a secret key', () => {
    expect(() => signStatement(decision(), aliceEd.secretKey)).toThrow(SigningInputError);
  });
});

describe('verifyStatement with a passkey', () => {
  it('verifies a passkey-signed decision as alice’s, with the statement’s id', () => {
    const signed = passkeySigned(decision());
    const verdict = verify(signed);
    expect(verdict).toMatchObject({ ok: true, keyId: 'alice.passkey', signer: { id: 'alice' } });
    expect(verdict.ok && verdict.statementId).toBe(statementId(signed));
  });

  it('refuses a statement changed after the assertion (another amount, refund, decision) as challenge_mismatch', () => {
    const signed = passkeySigned(decision());
    expect(verify({ ...signed, statement: { ...signed.statement, reason: 'changed' } })).toMatchObject({
      ok: false,
      rule: 'challenge_mismatch',
    });
    const otherRefund = { ...signed, statement: { ...signed.statement, refundId: 'r-2' } };
    expect(
      verifyStatement(otherRefund, resolvePrincipal(endorsed, 'alice', roots, NOW), { ...expectation, refundId: 'r-2' }),
    ).toMatchObject({
      ok: false,
      rule: 'challenge_mismatch',
    });
  });

  it('refuses the genuine assertion for another refund (wrong_refund), and the freshness, limit and role rules still apply', () => {
    expect(
      verifyStatement(passkeySigned(decision()), resolvePrincipal(endorsed, 'alice', roots, NOW), { ...expectation, refundId: 'r-2' }),
    ).toMatchObject({
      ok: false,
      rule: 'wrong_refund',
    });
    const old = passkeySigned(decision({ signedAt: new Date(NOW.getTime() - 2 * 3_600_000).toISOString() }));
    expect(verify(old)).toMatchObject({ ok: false, rule: 'statement_expired' });
    const big = decision({ amount: 600_000 });
    expect(
      verifyStatement(passkeySigned(big), resolvePrincipal(endorsed, 'alice', roots, NOW), { ...expectation, amount: 600_000 }),
    ).toMatchObject({ ok: false, rule: 'limit_exceeded' });
  });

  it('refuses a passkey that two admins have not endorsed', () => {
    const one: RegistryRecords = { entries: [{ entry, endorsements: [endorseEntry(entry, ADMINS[0]!)] }], revocations: [] };
    expect(verify(passkeySigned(decision()), one)).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
  });

  it('refuses a mismatch between alg, key and proof', () => {
    const signed = passkeySigned(decision());
    // A passkey statement with a signature instead of an assertion, and an Ed25519 statement with an assertion.
    expect(verify({ statement: signed.statement, signature: 'A'.repeat(86) })).toMatchObject({ ok: false, rule: 'malformed_statement' });
    expect(verify({ statement: { ...signed.statement, alg: 'ed25519' }, assertion: signed.assertion })).toMatchObject({
      ok: false,
      rule: 'malformed_statement',
    });
    // Naming the Ed25519 key in a passkey statement, and the passkey in an Ed25519 one.
    expect(verify(passkeySigned(decision({ keyId: 'alice.k1' })))).toMatchObject({ ok: false, rule: 'alg_mismatch' });
    const edSigned = signStatement({ ...decision(), alg: 'ed25519', keyId: 'alice.passkey' }, aliceEd.secretKey);
    expect(verify(edSigned)).toMatchObject({ ok: false, rule: 'alg_mismatch' });
    // Both proofs at once, and an assertion with a field too many.
    expect(verify({ ...signed, signature: 'A'.repeat(86) })).toMatchObject({ ok: false, rule: 'malformed_statement' });
    expect(verify({ ...signed, assertion: { ...signed.assertion, userHandle: 'x' } })).toMatchObject({
      ok: false,
      rule: 'malformed_statement',
    });
  });

  it('still verifies alice’s Ed25519-signed decisions', () => {
    const signed = signStatement({ ...decision(), alg: 'ed25519', keyId: 'alice.k1' }, aliceEd.secretKey);
    expect(verify(signed)).toMatchObject({ ok: true, keyId: 'alice.k1' });
  });

  it('refuses a warehouse receipt signed with a passkey assertion', () => {
    const receipt = {
      kind: 'warehouse_receipt',
      refundId: 'r-1',
      receipt: { warehouseId: 'wh-1', scannedAt: NOW.toISOString(), items: [{ sku: 'A', quantity: 1, condition: 'new' }] },
      scannedBy: 'alice',
      keyId: 'alice.passkey',
      alg: 'webauthn-es256',
      signedAt: NOW.toISOString(),
      nonce: newNonce(),
    };
    const assertion = authenticator.assert(challengeOf(canonicalBytes(receipt)));
    const verdict = verifyStatement({ statement: receipt, assertion }, resolvePrincipal(endorsed, 'alice', roots, NOW), {
      kind: 'warehouse_receipt',
      role: 'approver',
      refundId: 'r-1',
      at: NOW,
    });
    expect(verdict).toMatchObject({ ok: false, rule: 'malformed_statement' });
  });
});

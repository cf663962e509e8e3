/**
 * A passkey in software, for tests: a P-256 key from node:crypto that answers registration
 * (`navigator.credentials.create`, with a "none" attestation) and assertions
 * (`navigator.credentials.get`) the way a browser and an authenticator do: authenticatorData with
 * the rpIdHash, flags and a counter, clientDataJSON with type, challenge and origin, and an ECDSA
 * SHA-256 signature in DER over authenticatorData || SHA-256(clientDataJSON). Every part can be
 * bent (origin, rpId, flags, type, another key, a high S) to build the assertions a verifier must
 * refuse.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

export const FLAGS = { userPresent: 0x01, userVerified: 0x04, attestedCredentialData: 0x40 } as const;

/** The order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export interface Assertion {
  authenticatorData: string;
  clientDataJSON: string;
  signature: string;
}

export interface AssertionOptions {
  type?: string;
  origin?: string;
  rpId?: string;
  flags?: number;
  crossOrigin?: boolean;
  /** Sign with another key than the credential's. */
  signWith?: KeyObject;
  /** The S half of the signature: `high` forces s > n/2 (what the verifier must still accept), `low` forces s ≤ n/2. */
  s?: 'high' | 'low';
  /** Replaces clientDataJSON's bytes (signed as given). */
  clientDataBytes?: Uint8Array;
}

export interface SoftwareAuthenticator {
  rpId: string;
  origin: string;
  credentialId: string;
  /** The uncompressed P-256 point, base64url: the registry's `publicKey`. */
  publicKey: string;
  privateKey: KeyObject;
  /** The browser's JSON answer to `navigator.credentials.create(options)` (RegistrationResponseJSON). */
  register(options: { challenge: string; rp?: { id?: string } }, overrides?: AssertionOptions): RegistrationResponse;
  /** The `response` of `navigator.credentials.get` for `challenge` (base64url). */
  assert(challenge: string, options?: AssertionOptions): Assertion;
}

export interface RegistrationResponse {
  id: string;
  rawId: string;
  type: 'public-key';
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: 'platform';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
}

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

export function newP256Key(): { privateKey: KeyObject; x: Buffer; y: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') };
}

export function createSoftwareAuthenticator(options: { rpId: string; origin: string }): SoftwareAuthenticator {
  const { privateKey, x, y } = newP256Key();
  const credentialId = randomBytes(16);
  let counter = 0;

  const authenticatorData = (rpId: string, flags: number, attested?: Uint8Array) => {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(++counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  };
  const clientData = (type: string, challenge: string, bend: AssertionOptions) =>
    bend.clientDataBytes ??
    Buffer.from(
      JSON.stringify({
        type: bend.type ?? type,
        challenge,
        origin: bend.origin ?? options.origin,
        ...(bend.crossOrigin !== undefined ? { crossOrigin: bend.crossOrigin } : {}),
      }),
    );

  return {
    rpId: options.rpId,
    origin: options.origin,
    credentialId: b64u(credentialId),
    publicKey: b64u(Buffer.concat([Buffer.from([4]), x, y])),
    privateKey,
    register(creation, bend = {}) {
      const cose = isoCBOR.encode(
        new Map<number, number | Uint8Array>([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, new Uint8Array(x)],
          [-3, new Uint8Array(y)],
        ]),
      );
      const length = Buffer.alloc(2);
      length.writeUInt16BE(credentialId.length);
      const attested = Buffer.concat([Buffer.alloc(16), length, credentialId, Buffer.from(cose)]);
      const flags = bend.flags ?? FLAGS.userPresent | FLAGS.userVerified | FLAGS.attestedCredentialData;
      const authData = authenticatorData(bend.rpId ?? creation.rp?.id ?? options.rpId, flags, attested);
      const attestationObject = isoCBOR.encode(
        new Map<string, string | Uint8Array | Map<string, string>>([
          ['fmt', 'none'],
          ['attStmt', new Map<string, string>()],
          ['authData', new Uint8Array(authData)],
        ]),
      );
      return {
        id: b64u(credentialId),
        rawId: b64u(credentialId),
        type: 'public-key',
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
        response: {
          clientDataJSON: b64u(clientData('webauthn.create', creation.challenge, bend)),
          attestationObject: b64u(attestationObject),
          transports: ['internal'],
        },
      };
    },
    assert(challenge, bend = {}) {
      const authData = authenticatorData(bend.rpId ?? options.rpId, bend.flags ?? FLAGS.userPresent | FLAGS.userVerified);
      const clientDataJSON = clientData('webauthn.get', challenge, bend);
      const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
      const raw = sign('sha256', signed, { key: bend.signWith ?? privateKey, dsaEncoding: 'ieee-p1363' });
      return {
        authenticatorData: b64u(authData),
        clientDataJSON: b64u(clientDataJSON),
        signature: b64u(derSignature(raw, bend.s)),
      };
    },
  };
}

/** The DER form of an IEEE P1363 signature (r || s), with S moved to the half asked for. */
function derSignature(p1363: Uint8Array, half?: 'high' | 'low'): Uint8Array {
  const r = BigInt(`0x${Buffer.from(p1363.subarray(0, 32)).toString('hex')}`);
  let s = BigInt(`0x${Buffer.from(p1363.subarray(32)).toString('hex')}`);
  if ((half === 'high' && s <= N / 2n) || (half === 'low' && s > N / 2n)) s = N - s;
  const integer = (value: bigint) => {
    let bytes = Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
    while (bytes.length > 1 && bytes[0] === 0 && bytes[1]! < 0x80) bytes = bytes.subarray(1);
    if (bytes[0]! >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([integer(r), integer(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** Whether a DER signature's S is in the high half (s > n/2). */
export function isHighS(der: string): boolean {
  const bytes = Buffer.from(der, 'base64url');
  const rLength = bytes[3]!;
  const sLength = bytes[5 + rLength]!;
  const s = BigInt(`0x${bytes.subarray(6 + rLength, 6 + rLength + sLength).toString('hex')}`);
  return s > N / 2n;
}

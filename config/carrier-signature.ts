/**
 * Carrier webhook signatures. Each carrier signs with its own keys, each named by a key id:
 * `X-Carrier-Signature: t=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
 * The receiver checks the HMAC with the key of the carrier the body names, so one carrier cannot
 * report for another, and a carrier can hold two keys at once while it rotates. The timestamp is
 * signed too, so a captured request can be replayed only within the tolerance, and a replayed
 * event id changes nothing anyway.
 *
 * The check is a pure function of the keys, the raw body, the header and the clock, so the API
 * (at receipt, with the timestamp bounded) and the worker's `verifyCarrierEvent` activity (inside
 * every refund, without the age bound: see `verifyCarrierHmac`) verify the same way.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CARRIER_SIGNATURE_HEADER = 'x-carrier-signature';
/** How far a signature's timestamp may be from the receiver's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;
/** A key id: it travels in the header, so no commas, `=` or spaces. */
export const CARRIER_KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** One of a carrier's signing keys. */
export interface CarrierKey {
  keyId: string;
  secret: string;
}

/** A key together with the carrier it signs for: what a carrier (or the `refunds` CLI) holds. */
export interface CarrierSigningKey extends CarrierKey {
  carrier: string;
}

/** Every carrier's active keys, by canonical carrier name (REFUNDS_CARRIER_SECRETS). */
export type CarrierSecrets = Readonly<Record<string, readonly CarrierKey[]>>;

/** Carriers are matched trimmed and lowercased: `UPS` in an event is the carrier `ups`. */
export function canonicalCarrier(raw: string): string {
  return raw.trim().toLowerCase();
}

function hmacHex(secret: string, timestamp: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

/** The header value a carrier sends with `rawBody` (the exact bytes of the request body). */
export function signCarrierPayload(key: CarrierKey, rawBody: string, timestamp = Math.floor(Date.now() / 1000)): string {
  if (!CARRIER_KEY_ID_PATTERN.test(key.keyId))
    throw new Error(`carrier key id ${JSON.stringify(key.keyId)} must match ${CARRIER_KEY_ID_PATTERN}`);
  return `t=${timestamp},k=${key.keyId},v1=${hmacHex(key.secret, timestamp, rawBody)}`;
}

/** Why a signature was refused: stable codes for logs and metrics; `reason` says it in words. */
export type SignatureRefusal =
  | 'missing_header'
  | 'malformed_header'
  | 'stale_timestamp'
  | 'no_carrier'
  | 'unknown_carrier'
  | 'unknown_key'
  | 'key_of_another_carrier'
  | 'bad_signature';

export type SignatureCheck = { ok: true; carrier: string; keyId: string } | { ok: false; refusal: SignatureRefusal; reason: string };

const refuse = (refusal: SignatureRefusal, reason: string): SignatureCheck => ({ ok: false, refusal, reason });

interface SignatureHeader {
  timestamp: number;
  keyId: string;
  signature: string;
}

/** `t`, `k` and `v1` exactly once each; other parts are ignored, so a later scheme can be added beside v1. */
function parseHeader(header: string): SignatureHeader | undefined {
  const parts = header.split(',').map((part) => {
    const at = part.indexOf('=');
    return at < 0 ? [part.trim(), ''] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
  });
  const only = (name: string) => {
    const values = parts.filter(([key]) => key === name).map(([, value]) => value ?? '');
    return values.length === 1 ? values[0] : undefined;
  };
  const [t, k, v1] = [only('t'), only('k'), only('v1')];
  if (t === undefined || !/^\d{1,12}$/.test(t) || k === undefined || !CARRIER_KEY_ID_PATTERN.test(k) || v1 === undefined) return undefined;
  return { timestamp: Number(t), keyId: k, signature: v1 };
}

/** The carrier the body names, read from the same bytes that were signed. */
function carrierNamed(rawBody: string): string | undefined {
  try {
    const body: unknown = JSON.parse(rawBody);
    const carrier = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { carrier?: unknown }).carrier : undefined;
    return typeof carrier === 'string' && carrier.trim() !== '' ? canonicalCarrier(carrier) : undefined;
  } catch {
    return undefined;
  }
}

function keysOf(secrets: CarrierSecrets, carrier: string): readonly CarrierKey[] | undefined {
  return Object.hasOwn(secrets, carrier) ? secrets[carrier] : undefined;
}

/** The key of the carrier the body names, or why there is none. */
function keyFor(secrets: CarrierSecrets, carrier: string, keyId: string): CarrierKey | SignatureCheck {
  const keys = keysOf(secrets, carrier);
  if (!keys || keys.length === 0) return refuse('unknown_carrier', `no signing keys are configured for carrier ${JSON.stringify(carrier)}`);
  const key = keys.find((candidate) => candidate.keyId === keyId);
  if (key) return key;
  const owner = Object.keys(secrets).find((name) => name !== carrier && keysOf(secrets, name)?.some((other) => other.keyId === keyId));
  return owner
    ? refuse(
        'key_of_another_carrier',
        `key ${keyId} belongs to another carrier; an event for ${carrier} must be signed with a key of ${carrier}`,
      )
    : refuse('unknown_key', `carrier ${carrier} has no key ${keyId} (unknown, or retired)`);
}

/** The header's parts, or why it cannot be read. */
function readHeader(header: string | undefined): SignatureHeader | SignatureCheck {
  if (!header) return refuse('missing_header', `the ${CARRIER_SIGNATURE_HEADER} header is missing`);
  const parsed = parseHeader(header);
  if (parsed) return parsed;
  return refuse('malformed_header', `the ${CARRIER_SIGNATURE_HEADER} header must be t=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256>`);
}

/** The key of the carrier the body names, and the HMAC over `"<t>.<rawBody>"` with it. */
function checkHmac(secrets: CarrierSecrets, rawBody: string, parsed: SignatureHeader): SignatureCheck {
  const carrier = carrierNamed(rawBody);
  if (!carrier) return refuse('no_carrier', 'the body names no carrier, so no carrier key can verify it');
  const key = keyFor(secrets, carrier, parsed.keyId);
  if ('ok' in key) return key;
  const expected = Buffer.from(hmacHex(key.secret, parsed.timestamp, rawBody), 'hex');
  const matches = /^[0-9a-fA-F]{64}$/.test(parsed.signature) && timingSafeEqual(Buffer.from(parsed.signature, 'hex'), expected);
  if (!matches) return refuse('bad_signature', `the signature does not match the body for key ${parsed.keyId} of ${carrier}`);
  return { ok: true, carrier, keyId: key.keyId };
}

/**
 * Checks a carrier webhook as it arrives: the header names a key of the carrier in the body
 * (`carrier`, read from `rawBody` itself), its timestamp is current, and its HMAC over
 * `"<t>.<rawBody>"` matches.
 */
export function verifyCarrierSignature(
  secrets: CarrierSecrets,
  rawBody: string,
  header: string | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  const parsed = readHeader(header);
  if ('ok' in parsed) return parsed;
  if (Math.abs(nowSeconds - parsed.timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
    const minutes = SIGNATURE_TOLERANCE_SECONDS / 60;
    return refuse('stale_timestamp', `the signature timestamp is more than ${minutes} minutes from the server's clock`);
  }
  return checkHmac(secrets, rawBody, parsed);
}

/**
 * The same check without the age bound, for an event the API already accepted: the timestamp was
 * bounded at receipt, and a stored event may legitimately reach a refund much later (the carrier
 * event inbox delivers events that came before their refund existed). The key and the HMAC are
 * checked all the same, so nothing but a carrier's own signed bytes passes.
 */
export function verifyCarrierHmac(secrets: CarrierSecrets, rawBody: string, header: string | undefined): SignatureCheck {
  const parsed = readHeader(header);
  return 'ok' in parsed ? parsed : checkHmac(secrets, rawBody, parsed);
}

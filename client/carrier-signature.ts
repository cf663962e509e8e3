/**
 * Carrier webhook signatures: `X-Carrier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
 * with the shared secret CARRIER_WEBHOOK_SECRET. The timestamp is signed too, so a captured request
 * can be replayed only within the tolerance, and a replayed event id changes nothing anyway.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CARRIER_SIGNATURE_HEADER = 'x-carrier-signature';
/** How far a signature's timestamp may be from the receiver's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

function hmacHex(secret: string, timestamp: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

/** The header value a carrier sends with `rawBody` (the exact bytes of the request body). */
export function signCarrierPayload(secret: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, rawBody)}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Checks a signature header against the raw body. Every `v1` is tried, so a carrier can roll its signing key. */
export function verifyCarrierSignature(
  secret: string,
  rawBody: string,
  header: string | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  if (!header) return { ok: false, reason: `the ${CARRIER_SIGNATURE_HEADER} header is missing` };
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestamps = parts.filter(([key]) => key === 't').map(([, value]) => value ?? '');
  const signatures = parts.filter(([key]) => key === 'v1').map(([, value]) => value ?? '');
  if (timestamps.length !== 1 || !/^\d{1,12}$/.test(timestamps[0]!) || signatures.length === 0) {
    return { ok: false, reason: `the ${CARRIER_SIGNATURE_HEADER} header must be t=<unix seconds>,v1=<hex HMAC-SHA256>` };
  }
  const timestamp = Number(timestamps[0]);
  if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
    return {
      ok: false,
      reason: `the signature timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes from the server's clock`,
    };
  }
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  const matches = signatures.some((signature) => {
    if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
    return timingSafeEqual(Buffer.from(signature, 'hex'), expected);
  });
  return matches ? { ok: true } : { ok: false, reason: 'the signature does not match the body' };
}

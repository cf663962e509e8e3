/**
 * The carriers' webhook keys the test workers verify carrier events with (REFUNDS_CARRIER_SECRETS),
 * and carrier events signed with them the way a carrier signs its webhooks.
 */
import { canonicalCarrier, type CarrierKey, type CarrierSecrets, signCarrierPayload } from '../../config/carrier-signature';
import type { SignedCarrierEvent } from '../../workflows/messages';
import type { CarrierEvent } from '../../workflows/schemas';

/** One key each for ups, dhl and fedex; fixed, so a worker in a child process has the same. */
export const TEST_CARRIER_SECRETS: CarrierSecrets = {
  ups: [{ keyId: 'test-ups-1', secret: 'test-ups-secret-0123456789abcdef0123456789abcdef' }],
  dhl: [{ keyId: 'test-dhl-1', secret: 'test-dhl-secret-0123456789abcdef0123456789abcdef' }],
  fedex: [{ keyId: 'test-fedex-1', secret: 'test-fedex-secret-0123456789abcdef0123456789abcdef' }],
};

export interface CarrierSigning {
  /** The keys to pick the body's carrier's first key from (default TEST_CARRIER_SECRETS). */
  secrets?: CarrierSecrets;
  /** Sign with this key instead. */
  key?: CarrierKey;
  timestamp?: number;
}

/** The key of the carrier `carrier`, from `secrets`. */
export function carrierKeyOf(carrier: string, secrets: CarrierSecrets = TEST_CARRIER_SECRETS): CarrierKey {
  const key = secrets[canonicalCarrier(carrier)]?.[0];
  if (!key) throw new Error(`no test key for carrier ${carrier}`);
  return key;
}

/** `event` (or a raw body, sent as given) as its carrier sends it: the raw body and the signature header. */
export function signedCarrierEvent(event: CarrierEvent | string, signing: CarrierSigning = {}): SignedCarrierEvent {
  const rawBody = typeof event === 'string' ? event : JSON.stringify(event);
  const key = signing.key ?? carrierKeyOf((JSON.parse(rawBody) as { carrier: string }).carrier, signing.secrets);
  return { rawBody, signature: signCarrierPayload(key, rawBody, signing.timestamp) };
}

/**
 * Carrier events, believed only as the carrier signed them. The worker checks the HMAC of the raw
 * body with a key of the carrier the body names (the `verifyCarrierEvent` local activity: the
 * secrets never enter the workflow or its history); only then does the workflow read the event
 * from those same bytes and hold it to this refund's parcel.
 */
import { CarrierEvent, describeIssues, hasCarrierReturn, type RefundRequest } from './schemas';

/** What the worker says of a carrier event's signature: the carrier and key that signed it, or why not. */
export type CarrierEventCheck = { ok: true; carrier: string; keyId: string } | { ok: false; rule: string; message: string };

export type CarrierEventReading = { ok: true; event: CarrierEvent; keyId: string } | { ok: false; rule: string; message: string };

/** Carriers compare trimmed and lowercased, as the API routes them. */
const carrierName = (raw: string) => raw.trim().toLowerCase();

/** The event in `rawBody`, once `check` verified its signature, if it is well-formed, by that carrier, and about this refund's parcel. */
export function readCarrierEvent(rawBody: string, check: CarrierEventCheck, request: RefundRequest): CarrierEventReading {
  if (!check.ok) return check;
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    return { ok: false, rule: 'malformed_event', message: 'the signed body is not JSON' };
  }
  const parsed = CarrierEvent.safeParse(body);
  if (!parsed.success)
    return { ok: false, rule: 'malformed_event', message: `the signed event is malformed: ${describeIssues(parsed.error)}` };
  const event = parsed.data;
  if (carrierName(event.carrier) !== check.carrier) {
    return {
      ok: false,
      rule: 'carrier_mismatch',
      message: `the event names carrier ${event.carrier}, but ${check.carrier}'s key signed it`,
    };
  }
  const parcel = request.return;
  if (!hasCarrierReturn(parcel) || carrierName(parcel.carrier) !== check.carrier || parcel.trackingNumber !== event.trackingNumber) {
    const expected = hasCarrierReturn(parcel) ? `${parcel.carrier} ${parcel.trackingNumber}` : 'no return parcel';
    return {
      ok: false,
      rule: 'wrong_parcel',
      message: `the event is about ${check.carrier} ${event.trackingNumber}; this refund expects ${expected}`,
    };
  }
  return { ok: true, event, keyId: check.keyId };
}

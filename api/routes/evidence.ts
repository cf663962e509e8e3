/**
 * Evidence that the parcel came back: carriers report tracking events (authenticated by their
 * signature, routed by carrier and tracking number), warehouses record receipt scans the scanner
 * signed. Both reach the refund as signed (the raw body and signature header; the signed receipt
 * statement), and the workflow verifies them again: nothing here vouches for them.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { CarrierEvent } from '../../workflows/schemas';
import { CARRIER_SIGNATURE_HEADER } from '../../config/carrier-signature';
import { principalOf, requireCarrierSignature, requireRole } from '../plugins/authentication';
import { CarrierEventAccepted, ScanAccepted, ScanBody, signedScanOf } from '../../client/views';
import { bearer, problems, RefundPath, withAuth, type RouteDeps } from './shared';

export function registerEvidenceRoutes(app: FastifyInstance, { refunds, pool, carrierSecrets }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/carrier-events',
    {
      preValidation: requireCarrierSignature(carrierSecrets),
      schema: {
        tags: ['carriers'],
        summary: 'Report a tracking event for a return parcel',
        description:
          'Signed with a key of the carrier the body names: ' +
          '`X-Carrier-Signature: t=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. ' +
          "An unknown key, another carrier's key, a bad HMAC or a timestamp more than 5 minutes from the server clock is refused. " +
          'A verified event is stored before anything else, then signalled to the refunds waiting for this carrier and tracking number. ' +
          'An event for a parcel no refund waits for yet is accepted all the same (`pending: true`) and delivered as soon as its refund is requested. ' +
          'The same event id with the same body again changes nothing and answers as before; ' +
          'with a different body it is kept as a conflict for operations, never delivered, and answered 409.',
        security: [{ carrierSignature: [] }],
        body: CarrierEvent,
        response: { 202: CarrierEventAccepted, ...problems(400, 401, 409, 413, 415, 422, 429) },
      },
    },
    async (request, reply) => {
      // The bytes the carrier signed, not the parsed body: every refund verifies them again.
      const header = request.headers[CARRIER_SIGNATURE_HEADER];
      const signature = Array.isArray(header) ? header.join(',') : (header ?? '');
      const routed = await refunds.recordCarrierEvent({ rawBody: request.rawBody ?? '', signature });
      return reply.code(202).send(routed);
    },
  );

  api.post(
    '/v1/refunds/:refundId/warehouse-scans',
    {
      onRequest: requireRole(pool, 'warehouse'),
      schema: {
        tags: ['warehouses'],
        summary: 'Record a receipt scan of the returned parcel',
        description:
          'The receipt, signed by the scanner with their registered Ed25519 key: the API builds the receipt statement from the body ' +
          '(the refund id from the path, the scanner from the API key, `kind: "warehouse_receipt"`, `alg: "ed25519"`, the receipt ' +
          'fields, `keyId`, `signedAt`, `nonce`) and the signature must cover it (RFC 8785 canonical JSON). A key the registry does ' +
          'not list for the caller, or a signature that does not verify, answers 403 with the `rule` (`unknown_key`, `bad_signature`). ' +
          'The workflow verifies the statement again against the key registry under its pinned trust roots, and counts it only if ' +
          'the signer has the warehouse role; a refusal there is written to the audit trail (`statement_rejected`). ' +
          'A repeated event id changes nothing. The scanner can never approve this refund.',
        security: bearer,
        params: RefundPath,
        body: ScanBody,
        response: { 202: ScanAccepted, ...problems(400, 404, 409, 413, 415, 422, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { refundId } = request.params;
      const signed = signedScanOf(refundId, principalOf(request).id, request.body);
      await refunds.recordWarehouseScan(refundId, signed);
      return reply.code(202).send({ refundId, eventId: request.body.eventId });
    },
  );
}

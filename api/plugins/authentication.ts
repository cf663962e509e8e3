/**
 * Who is calling: `Authorization: Bearer <api key>` names a principal, and each route says which
 * roles may call it. Runs before the body is read, so an unauthenticated caller costs one lookup.
 * Carriers are not principals: their webhook is authenticated by its signature instead.
 */
import type { FastifyRequest, onRequestHookHandler, preValidationHookHandler } from 'fastify';
import type { Pool } from '../../store/pool';
import { PRINCIPAL_ID_PATTERN, type Role } from '../../workflows/schemas';
import { CARRIER_SIGNATURE_HEADER, type CarrierSecrets, verifyCarrierSignature } from '../../client/carrier-signature';
import { authenticate, type Principal } from '../../store/principals';
import { problem } from './problems';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller, on routes that require one. */
    principal?: Principal;
    /** The body exactly as received, for signature checks. */
    rawBody?: string;
  }
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/** An onRequest hook: the caller must hold an active API key and one of `roles` (any role if none are listed). */
export function requireRole(pool: Pool, ...roles: Role[]): onRequestHookHandler {
  return async (request) => {
    const header = request.headers.authorization;
    const key = header ? BEARER.exec(header)?.[1] : undefined;
    if (!key) {
      throw problem(
        'unauthenticated',
        'send an API key as Authorization: Bearer <key>',
        {},
        { 'www-authenticate': 'Bearer realm="refunds"' },
      );
    }
    const principal = await authenticate(pool, key);
    if (!principal) {
      throw problem(
        'unauthenticated',
        'the API key is unknown or has been revoked',
        {},
        {
          'www-authenticate': 'Bearer realm="refunds", error="invalid_token"',
        },
      );
    }
    // The id handed on is canonical (lowercase); a stored id outside the alphabet names no one the workflow accepts.
    if (!PRINCIPAL_ID_PATTERN.test(principal.id)) {
      throw problem(
        'unauthenticated',
        `principal ${JSON.stringify(principal.id)} has an id outside the principal id alphabet; re-create it`,
      );
    }
    request.principal = principal;
    if (roles.length > 0 && !principal.roles.some((role) => roles.includes(role))) {
      throw problem(
        'role_required',
        `${principal.id} has the role${principal.roles.length > 1 ? 's' : ''} ${principal.roles.join(', ')}; this needs ${roles.join(' or ')}`,
        { requiredRoles: roles, ...(roles.length === 1 && roles[0] === 'approver' ? { rule: 'approver_role_required' as const } : {}) },
      );
    }
  };
}

/** The authenticated principal of a request that passed `requireRole`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route is missing its requireRole hook');
  return request.principal;
}

/**
 * A preValidation hook: the raw body must carry a valid signature by a key of the carrier it names,
 * before it is even validated.
 */
export function requireCarrierSignature(secrets: CarrierSecrets): preValidationHookHandler {
  return async (request) => {
    const header = request.headers[CARRIER_SIGNATURE_HEADER];
    const check = verifyCarrierSignature(secrets, request.rawBody ?? '', Array.isArray(header) ? header.join(',') : header);
    if (!check.ok) {
      request.log.warn({ refusal: check.refusal }, `carrier signature refused: ${check.reason}`);
      throw problem('invalid_signature', check.reason);
    }
    // Which key signed: during a rotation, the log shows when the old key is no longer used.
    request.log.info({ carrier: check.carrier, keyId: check.keyId }, 'carrier signature verified');
  };
}

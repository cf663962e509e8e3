/**
 * Idempotency-Key on every authenticated POST: a caller that retries a mutation whose answer it
 * lost gets the first answer again (with `Idempotent-Replayed: true`) instead of a refusal that
 * looks like a failure; the same key with another request is refused with 422. Keys belong to
 * the principal that sends them and are kept for a day (store/idempotency-keys.ts). Decisions and
 * cancels also pass the key on to Temporal as the update id, so a retry that arrives while the
 * first is still in flight waits for that one instead of deciding again.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canonicalJson, sha256Hex } from '../../store/canonical';
import { claimIdempotencyKey, type KeyUse, recordIdempotentAnswer } from '../../store/idempotency-keys';
import type { Pool } from '../../store/pool';
import { PROBLEM_CONTENT_TYPE, problem } from './problems';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
const KEY = /^[\x21-\x7e]{1,255}$/;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request claimed an Idempotency-Key; its answer is recorded against it. */
    idempotency?: KeyUse;
  }
}

/** What makes two requests the same: the route, its parameters and the validated body. */
function fingerprint(request: FastifyRequest): string {
  return sha256Hex(
    canonicalJson({ method: request.method, route: request.routeOptions.url, params: request.params ?? {}, body: request.body ?? null }),
  );
}

/** The Temporal update id for a request that claimed an Idempotency-Key, if it did. */
export function updateIdOf(request: FastifyRequest): string | undefined {
  const use = request.idempotency;
  return use ? `idempotency-${sha256Hex(`${use.principalId}\n${use.key}`)}` : undefined;
}

function keyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !KEY.test(raw)) {
    throw problem('malformed_request', 'Idempotency-Key must be one header of 1 to 255 printable ASCII characters without spaces');
  }
  return raw;
}

export function honourIdempotencyKeys(app: FastifyInstance, pool: Pool): void {
  // After authentication and validation: only a well-formed request by a known principal claims a key.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST' || !request.principal) return;
    const key = keyOf(request);
    if (key === undefined) return;
    const use = { principalId: request.principal.id, key, fingerprint: fingerprint(request) };
    const claim = await claimIdempotencyKey(pool, use);
    if (claim.outcome === 'mismatch') {
      throw problem(
        'idempotency_key_reused',
        `Idempotency-Key ${key} was first used for another request; send a new key with a new request`,
      );
    }
    if (claim.outcome === 'answered') {
      const type = claim.status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json; charset=utf-8';
      return reply.code(claim.status).header(REPLAYED_HEADER, 'true').type(type).send(JSON.stringify(claim.answer));
    }
    request.idempotency = use;
  });
  // Answers worth repeating are kept: not 429 or 5xx, after which a retry should try again.
  app.addHook('onSend', async (request, reply, payload) => {
    const use = request.idempotency;
    if (!use || typeof payload !== 'string' || reply.statusCode >= 500 || reply.statusCode === 429) return payload;
    await recordIdempotentAnswer(pool, use, reply.statusCode, JSON.parse(payload));
    return payload;
  });
}

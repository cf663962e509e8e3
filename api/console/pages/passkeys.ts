/**
 * Passkeys in the console: a principal registers one (the ceremony of api/passkeys.ts, which
 * proposes its next registry entry for two admins to endorse), and an approver approves or rejects
 * a refund by signing the decision statement with it. The browser side is static/passkeys.js with
 * @simplewebauthn/browser; these routes answer it in JSON, under the session and its CSRF token
 * (sent as the X-CSRF-Token header).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { PasskeyRegistrationBody, passkeyApprovalBody } from '../../../client/passkey-views';
import { ApprovalBody, signedDecisionOf } from '../../../client/views';
import { ApprovalRefusedError, InvalidInputError, RefundNotFoundError } from '../../../client/errors';
import { formatMinor } from '../../../workflows/currencies';
import { DecisionStatement, WebAuthnAssertion } from '../../../workflows/statements';
import { decisionChallenge, passkeyRegistrationOptions, registerPasskey } from '../../passkeys';
import { RefundPath } from '../../routes/shared';
import type { ConsoleContext } from '../context';
import { ConsolePageError, sessionOf } from '../session';
import { failureOf } from './outcome';

const ChallengeForm = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  reason: z.string().trim().max(500).optional(),
});
const SignedForm = z.strictObject({ statement: DecisionStatement, assertion: WebAuthnAssertion.loose() });

function parse<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw InvalidInputError.fromZod(what, result.error);
  return result.data;
}

function refundIdOf(params: unknown): string {
  const parsed = RefundPath.safeParse(params);
  if (!parsed.success) throw new ConsolePageError(404, 'Not a refund id', 'That is not a refund id this service accepts.');
  return parsed.data.refundId;
}

/** Runs `work` and answers JSON: its result, or `{ message, rule }` with the API's status for the error. */
async function answer(reply: FastifyReply, work: () => Promise<unknown>) {
  try {
    return reply.type('application/json; charset=utf-8').send(await work());
  } catch (error) {
    const { failure, internal } = failureOf(error);
    if (internal) reply.request.log.error({ err: error }, 'console passkey request failed');
    return reply
      .code(failure.status)
      .type('application/json; charset=utf-8')
      .send({ message: failure.message, rule: failure.rule ?? null });
  }
}

export function registerPasskeyPages(app: FastifyInstance, context: ConsoleContext): void {
  const passkeys = { pool: context.pool, webauthn: context.webauthn, trustRoots: context.trustRoots };

  app.get('/passkeys', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) =>
    context.render(request, reply, 'passkeys', { title: 'Passkeys', passkeyScript: true, rpId: context.webauthn.rpId }),
  );

  app.post('/passkeys/options', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) =>
    answer(reply, () => passkeyRegistrationOptions(passkeys, sessionOf(request).principal.id)),
  );

  app.post('/passkeys', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) =>
    answer(reply, async () => {
      const id = sessionOf(request).principal.id;
      return registerPasskey(passkeys, id, parse(PasskeyRegistrationBody, 'passkey registration', request.body), `employee:${id}`);
    }),
  );

  app.post(
    '/refunds/:refundId/decision/challenge',
    { schema: { hide: true }, preHandler: context.session('approver') },
    async (request, reply) =>
      answer(reply, async () => {
        const form = parse(ChallengeForm, 'decision', request.body);
        const reason = form.reason ? form.reason : undefined;
        const { statement, options } = await decisionChallenge(
          passkeys,
          refundIdOf(request.params),
          sessionOf(request).principal.id,
          form.decision,
          reason,
        );
        return { statement, options };
      }),
  );

  app.post('/refunds/:refundId/decision', { schema: { hide: true }, preHandler: context.session('approver') }, async (request, reply) =>
    answer(reply, async () => {
      const refundId = refundIdOf(request.params);
      const approverId = sessionOf(request).principal.id;
      const { statement, assertion } = parse(SignedForm, 'signed decision', request.body);
      if (statement.refundId !== refundId || statement.approverId !== approverId) {
        throw new InvalidInputError('signed decision', [
          { path: 'statement', message: `is for ${statement.refundId} by ${statement.approverId}` },
        ]);
      }
      const body = parse(ApprovalBody, 'signed decision', passkeyApprovalBody(statement, assertion));
      const row = await context.refunds.getRefundRow(refundId);
      if (!row) throw new RefundNotFoundError(`refund ${refundId} not found`);
      if (body.amount !== row.amount || body.currency !== row.currency) {
        throw new ApprovalRefusedError(
          'amount_mismatch',
          `the decision is for ${formatMinor(body.amount, body.currency)}; the refund is ${formatMinor(row.amount, row.currency)}`,
        );
      }
      const status = await context.refunds.decide(refundId, signedDecisionOf(refundId, approverId, body));
      return { refundId, state: status.state, decision: body.decision, approvalsStillNeeded: status.approvalsStillNeeded };
    }),
  );
}

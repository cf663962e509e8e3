/**
 * Signing in with a principal id and one of its API keys (checked as the API checks a bearer key),
 * which opens a server-side session; signing out ends it.
 */
import type { FastifyInstance } from 'fastify';
import { apiKeyHash, authenticate } from '../../../store/principals';
import { openConsoleSession, revokeConsoleSession } from '../../../store/console-sessions';
import { canonicalPrincipalId, PRINCIPAL_ID_PATTERN } from '../../../workflows/schemas';
import type { ConsoleContext } from '../context';
import { CONSOLE_PATH, checkOrigin, SESSION_COOKIE, sessionCookieOptions, sessionEndedMessages, sessionOf } from '../session';
import type { SessionRefusal } from '../../../store/console-sessions';

type Form = Record<string, string | undefined>;

export function registerSignInPages(app: FastifyInstance, context: ConsoleContext): void {
  const signInForm = async (reply: Parameters<ConsoleContext['render']>[1], data: Record<string, unknown>, status = 200) => {
    const token = await reply.generateCsrf();
    return context.render(reply.request, reply, 'sign-in', { title: 'Sign in', signInCsrf: token, principalId: '', ...data }, status);
  };

  app.get('/sign-in', { schema: { hide: true } }, async (request, reply) => {
    const ended = (request.query as Form).ended as SessionRefusal | undefined;
    const notice = ended && Object.hasOwn(sessionEndedMessages, ended) ? sessionEndedMessages[ended] : undefined;
    return signInForm(reply, { notice });
  });

  app.post(
    '/sign-in',
    {
      schema: { hide: true },
      preHandler: async (request, reply) => {
        checkOrigin(request);
        await new Promise<void>((resolve, reject) =>
          app.csrfProtection(request, reply, (error?: Error) => (error ? reject(error) : resolve())),
        );
      },
    },
    async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      const principalId = (form.principalId ?? '').trim();
      const apiKey = (form.apiKey ?? '').trim();
      const principal = apiKey ? await authenticate(context.pool, apiKey) : undefined;
      const matches =
        principal !== undefined && PRINCIPAL_ID_PATTERN.test(principal.id) && principal.id === canonicalPrincipalId(principalId);
      if (!matches) {
        request.log.info({ principalId }, 'console sign-in refused');
        return signInForm(
          reply,
          { principalId, error: 'Sign-in refused: that principal id and API key do not belong to an active principal.' },
          401,
        );
      }
      const session = await openConsoleSession(context.pool, {
        principalId: principal.id,
        apiKeyHash: apiKeyHash(apiKey),
        lifetimeMs: context.lifetimeMs,
      });
      request.log.info({ principalId: principal.id }, 'console sign-in');
      reply.setCookie(SESSION_COOKIE, session.id, sessionCookieOptions(Math.floor(context.lifetimeMs / 1000)));
      return reply.redirect(`${CONSOLE_PATH}/`, 303);
    },
  );

  app.post('/sign-out', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) => {
    await revokeConsoleSession(context.pool, sessionOf(request).idHash);
    reply.clearCookie(SESSION_COOKIE, sessionCookieOptions());
    return reply.redirect(`${CONSOLE_PATH}/sign-in?ended=signed_out`, 303);
  });

  app.get('/', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) =>
    context.render(request, reply, 'home', { title: 'Console' }),
  );
}

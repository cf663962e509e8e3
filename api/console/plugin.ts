/**
 * The operations console: server-rendered pages under /console for approvers, operations and
 * admins, on the same origin as the API. Its own encapsulated plugin, so its form parsing,
 * cookies, HTML error pages and security headers never touch the JSON API under /v1.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Pool } from '../../store/pool';
import type { Role } from '../../workflows/schemas';
import { defaultWebAuthn, type WebAuthnConfig } from '../../config/api';
import type { Policy } from '../../workflows/policy';
import type { TrustRoots } from '../../workflows/statements';
import { OperationsService } from '../operations-service';
import type { RefundsService } from '../refunds-service';
import { fmt } from './format';
import { registerAuditPages } from './pages/audit';
import { registerBreakerPages } from './pages/breakers';
import { registerInboxPages } from './pages/inbox';
import { registerPasskeyPages } from './pages/passkeys';
import { registerRefundPages } from './pages/refund';
import { registerSignInPages } from './pages/sign-in';
import { registerStuckPages } from './pages/stuck';
import type { ConsoleContext } from './context';
import { CONSOLE_PATH, ConsolePageError, requireSession } from './session';

export interface ConsoleOptions {
  /** A session unused for this long ends (default 30 minutes). */
  idleTimeoutMs?: number;
  /** A session ends this long after sign-in, however much it is used (default 12 hours). */
  sessionLifetimeMs?: number;
}

export interface ConsoleDeps extends ConsoleOptions {
  refunds: RefundsService;
  pool: Pool;
  /** The service's policy and the trust roots the workers pin: the approvals inbox applies the workflow's rules with them. */
  policy?: Policy;
  trustRoots?: TrustRoots;
  /** Passkeys' relying party id and origin (REFUNDS_WEBAUTHN_RP_ID, REFUNDS_WEBAUTHN_ORIGIN). */
  webauthn?: WebAuthnConfig;
}

const here = import.meta.dirname;

/** The directory of @simplewebauthn/browser's bundled file, served as is: no CDN, no build step. */
function webauthnBundleDir(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return path.join(entry.slice(0, entry.lastIndexOf(`${path.sep}script${path.sep}`)), 'dist', 'bundle');
}

interface NavLink {
  href: string;
  label: string;
}

function navigation(roles: readonly Role[]): NavLink[] {
  const links: NavLink[] = [{ href: `${CONSOLE_PATH}/`, label: 'Home' }];
  if (roles.includes('approver')) {
    links.push({ href: `${CONSOLE_PATH}/inbox`, label: 'Approvals inbox' }, { href: `${CONSOLE_PATH}/passkeys`, label: 'Passkeys' });
  }
  if (roles.includes('ops')) links.push({ href: `${CONSOLE_PATH}/stuck`, label: 'Stuck refunds' });
  if (roles.includes('ops') || roles.includes('admin')) {
    links.push({ href: `${CONSOLE_PATH}/audit`, label: 'Audit' }, { href: `${CONSOLE_PATH}/breakers`, label: 'Breakers' });
  }
  return links;
}

/** Registers the console under /console; one line in api/app.ts. */
export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  await app.register(async (instance) => consolePlugin(instance, deps), { prefix: CONSOLE_PATH });
}

async function consolePlugin(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  await app.register(formbody);
  await app.register(cookie);
  // Only the sign-in form, which comes before any session: a double-submit cookie. Signed-in forms carry the session's own token.
  await app.register(csrf, {
    cookieKey: 'console_sign_in_csrf',
    cookieOpts: { path: `${CONSOLE_PATH}/sign-in`, httpOnly: true, sameSite: 'strict', secure: 'auto' },
  });
  await app.register(view, {
    engine: { eta: new Eta({ autoEscape: true }) },
    root: path.join(here, 'templates'),
    viewExt: 'eta',
    production: true,
  });
  await app.register(fastifyStatic, { root: path.join(here, 'static'), prefix: '/static/', index: false, maxAge: 3_600_000 });
  await app.register(fastifyStatic, {
    root: webauthnBundleDir(),
    prefix: '/static/vendor/simplewebauthn/',
    allowedPath: (pathname) => pathname === '/index.umd.min.js',
    decorateReply: false,
    index: false,
  });

  const context: ConsoleContext = {
    refunds: deps.refunds,
    operations: new OperationsService({
      refunds: deps.refunds,
      pool: deps.pool,
      ...(deps.policy ? { policy: deps.policy } : {}),
      ...(deps.trustRoots ? { trustRoots: deps.trustRoots } : {}),
    }),
    pool: deps.pool,
    webauthn: deps.webauthn ?? defaultWebAuthn,
    trustRoots: deps.trustRoots,
    idleMs: deps.idleTimeoutMs ?? 30 * 60_000,
    lifetimeMs: deps.sessionLifetimeMs ?? 12 * 3_600_000,
    session: (...roles) => requireSession(deps.pool, deps.idleTimeoutMs ?? 30 * 60_000, ...roles),
    async render(request, reply, template, data = {}, status = 200) {
      const session = request.consoleSession;
      const page = {
        title: '',
        notice: undefined,
        error: undefined,
        ...data,
        fmt,
        base: CONSOLE_PATH,
        principal: session?.principal,
        csrf: session?.csrfToken,
        nav: session ? navigation(session.principal.roles) : [],
      };
      return reply.code(status).viewAsync(template, page);
    },
  };

  securityHeaders(app);
  pageErrors(app, context);
  registerSignInPages(app, context);
  registerRefundPages(app, context);
  registerStuckPages(app, context);
  registerAuditPages(app, context);
  registerBreakerPages(app, context);
  registerInboxPages(app, context);
  registerPasskeyPages(app, context);
}

/** Pages only from this origin: no inline script, no framing, no caching of pages that show refunds. */
function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    if (!request.url.startsWith(`${CONSOLE_PATH}/static/`)) reply.header('cache-control', 'no-store');
    return payload;
  });
}

function pageErrors(app: FastifyInstance, context: ConsoleContext): void {
  app.setErrorHandler(async (error: FastifyError | ConsolePageError, request, reply) => {
    if (error instanceof ConsolePageError) {
      return context.render(request, reply, 'error', { title: error.title, message: error.message }, error.status);
    }
    if (typeof error.code === 'string' && error.code.startsWith('FST_CSRF')) {
      return context.render(
        request,
        reply,
        'error',
        {
          title: 'Form refused',
          message: 'The sign-in form did not carry its CSRF token. Nothing was changed; reload the page and try again.',
        },
        403,
      );
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'console page failed');
    const message = status === 500 ? 'The page failed unexpectedly; it has been logged.' : error.message;
    return context.render(request, reply, 'error', { title: status === 500 ? 'Something went wrong' : 'Bad request', message }, status);
  });
  app.setNotFoundHandler(async (request, reply) =>
    context.render(request, reply, 'error', { title: 'Not found', message: `There is no page ${request.url.split('?')[0]}.` }, 404),
  );
}

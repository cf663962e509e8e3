/**
 * Who is using the console: the session cookie names a session in PostgreSQL
 * (store/console-sessions.ts), checked again on every request (expiry, idle time, the principal
 * and the API key it was opened with still active, the principal's roles as they are now). Forms
 * carry the session's CSRF token (a synchronizer token kept in the session row): a POST without
 * it, or with another, is refused with 403 before anything runs.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { type ConsoleSession, type SessionRefusal, useConsoleSession } from '../../store/console-sessions';
import type { Pool } from '../../store/pool';
import type { Role } from '../../workflows/schemas';

export const SESSION_COOKIE = 'console_session';
export const CONSOLE_PATH = '/console';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session of a request that passed `requireSession`. */
    consoleSession?: ConsoleSession;
  }
}

/** An error the console answers with a page of its own (status, title, message). */
export class ConsolePageError extends Error {
  override name = 'ConsolePageError';
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

/** The session cookie: only for the console's paths, never readable by scripts, never sent cross-site. */
export function sessionCookieOptions(maxAgeSeconds?: number) {
  return {
    path: CONSOLE_PATH,
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: 'auto' as const,
    ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}),
  };
}

function signInRedirect(reply: FastifyReply, refusal: SessionRefusal | 'none') {
  reply.clearCookie(SESSION_COOKIE, sessionCookieOptions());
  return reply.redirect(`${CONSOLE_PATH}/sign-in${refusal === 'none' ? '' : `?ended=${refusal}`}`, 303);
}

/**
 * A preHandler: the request needs a live session whose principal holds one of `roles` (any role
 * if none are listed); a POST also needs the session's CSRF token in its `_csrf` field and, when
 * the browser names one, this console's own origin. Without a session it is sent to sign in.
 */
export function requireSession(pool: Pool, idleMs: number, ...roles: Role[]): preHandlerHookHandler {
  return async (request, reply) => {
    const id = request.cookies[SESSION_COOKIE];
    if (!id) return signInRedirect(reply, 'none');
    const found = await useConsoleSession(pool, id, idleMs);
    if ('refused' in found) return signInRedirect(reply, found.refused);
    const session = found.session;
    request.consoleSession = session;
    if (request.method === 'POST') checkForm(request, session);
    if (roles.length > 0 && !session.principal.roles.some((role) => roles.includes(role))) {
      throw new ConsolePageError(
        403,
        'Role required',
        `${session.principal.id} has the role${session.principal.roles.length > 1 ? 's' : ''} ${session.principal.roles.join(', ')}; this page needs ${roles.join(' or ')}.`,
      );
    }
  };
}

/** The form must come from this console: the session's CSRF token, and this origin if the browser says where it came from. */
function checkForm(request: FastifyRequest, session: ConsoleSession): void {
  checkOrigin(request);
  // Forms send it as a field; the passkey script (JSON) as a header.
  const header = request.headers['x-csrf-token'];
  const sent = typeof header === 'string' ? header : (request.body as Record<string, unknown> | undefined)?._csrf;
  if (typeof sent !== 'string' || !sameSecret(sent, session.csrfToken)) {
    throw new ConsolePageError(
      403,
      'Form refused',
      'The form did not carry this session’s CSRF token (it is missing, wrong, or from another session). Nothing was changed; reload the page and try again.',
    );
  }
}

/** A cross-site POST is refused whatever it carries. */
export function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const host = request.headers.host;
  let originHost: string | undefined;
  try {
    originHost = origin === 'null' ? undefined : new URL(origin).host;
  } catch {
    originHost = undefined;
  }
  if (!host || originHost !== host) {
    throw new ConsolePageError(403, 'Form refused', `The form was sent from ${origin}, not from this console. Nothing was changed.`);
  }
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The session of a request that passed `requireSession`. */
export function sessionOf(request: FastifyRequest): ConsoleSession {
  if (!request.consoleSession) throw new Error('route is missing its requireSession hook');
  return request.consoleSession;
}

export const sessionEndedMessages: Record<SessionRefusal, string> = {
  unknown: 'Your session is not known here. Sign in again.',
  signed_out: 'You signed out.',
  expired: 'Your session reached its time limit. Sign in again.',
  idle: 'Your session ended after a time without use. Sign in again.',
  principal_revoked: 'Your session ended: your principal or the API key you signed in with has been revoked.',
};

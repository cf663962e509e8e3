/**
 * The local Temporal Web UI, read-only. The dev server's own UI has no login
 * and its write actions cannot be switched off from the CLI, so anyone who can
 * open it could signal, update, terminate or reset refunds under any identity.
 * `npm start` runs that UI on an internal loopback port and serves people
 * through this reverse proxy, which lets reads through and refuses every write.
 *
 * What counts as a write follows the UI server's HTTP API (ui-server v2: every
 * `/api/v1/*` path goes to grpc-gateway routes of the WorkflowService and
 * OperatorService): all GET routes are reads (describe, list, count, history);
 * every POST, PUT, PATCH and DELETE route changes something, except
 * QueryWorkflow (`POST /api/v1/namespaces/{ns}/workflows/{id}/query/{type}`),
 * which the UI needs for its call stack, metadata and query tabs; a query
 * records nothing in the workflow's history. Paths are matched segment by
 * segment on the raw URL, as grpc-gateway splits them: the UI server's own
 * write filter looks for "/workflows/" and "/query/" anywhere in the decoded
 * path, which an encoded id can contain.
 */
import type { IncomingHttpHeaders } from 'node:http';
import httpProxy from '@fastify/http-proxy';
import Fastify, { type FastifyInstance } from 'fastify';

export interface ReadOnlyUiOptions {
  /** The dev server's own Web UI, e.g. http://127.0.0.1:40123. */
  upstream: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

export interface ReadOnlyUi {
  url: string;
  close(): Promise<void>;
}

const QUERY_PATH = /^\/api\/v1\/namespaces\/[^/]+\/workflows\/[^/]+\/query\/[^/]+$/;
// grpc-gateway turns a form-encoded POST into the method these name; none is needed by the UI.
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];
/** The settings the UI reads to hide its write buttons (ui-server's SettingsResponse). */
const WRITES_DISABLED = {
  DisableWriteActions: true,
  WorkflowTerminateDisabled: true,
  WorkflowCancelDisabled: true,
  WorkflowSignalDisabled: true,
  WorkflowUpdateDisabled: true,
  WorkflowResetDisabled: true,
  BatchActionsDisabled: true,
  StartWorkflowDisabled: true,
  ActivityCommandsDisabled: true,
};

/** Why the proxy refuses this request, or undefined when it only reads. */
export function refusalReason(method: string, url: string, headers: IncomingHttpHeaders): string | undefined {
  const header = METHOD_OVERRIDES.find((name) => headers[name] !== undefined);
  if (header) return `the ${header} header is not accepted`;
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (method === 'POST' && isWorkflowQuery(url)) return undefined;
  return `${method} ${url.split('?', 1)[0]} would change workflows, schedules or the namespace`;
}

function isWorkflowQuery(url: string): boolean {
  const path = url.split('?', 1)[0] ?? '';
  // The proxy forwards the URL as the WHATWG parser normalizes it ('.' and '%2e'
  // segments, backslashes), so only a path that parsing leaves unchanged is judged.
  let parsed: string;
  try {
    parsed = new URL(path, 'http://ui.invalid').pathname;
  } catch {
    return false;
  }
  return parsed === path && QUERY_PATH.test(path);
}

/** The UI server's settings with every write action switched off, so the UI hides its buttons too. */
export function readOnlySettings(settings: unknown): Record<string, unknown> {
  const base = typeof settings === 'object' && settings !== null && !Array.isArray(settings) ? settings : {};
  return { ...base, ...WRITES_DISABLED };
}

export async function startReadOnlyUi(opts: ReadOnlyUiOptions): Promise<ReadOnlyUi> {
  const host = opts.host ?? '127.0.0.1';
  const app = buildApp(opts.upstream);
  try {
    await app.listen({ host, port: opts.port });
  } catch (err) {
    await app.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`Cannot start the Temporal Web UI: port ${opts.port} on ${host} is already in use.`);
    }
    throw err;
  }
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : opts.port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, close: () => app.close() };
}

function buildApp(upstream: string): FastifyInstance {
  const app = Fastify({ logger: false });
  // onRequest: refused before any body is read, for the proxy's routes and unknown ones alike.
  app.addHook('onRequest', async (request, reply) => {
    const reason = refusalReason(request.method, request.url, request.headers);
    if (reason === undefined) return;
    await reply
      .code(403)
      .type('application/json')
      .send({
        error: 'read_only',
        message:
          `The local Temporal Web UI is read-only: ${reason}. It has no login, so a write here would skip ` +
          'the authentication and approval rules of the refund API; use the API (npx refunds) instead.',
      });
  });
  app.get('/api/v1/settings', async (_request, reply) => {
    const answer = await fetch(new URL('/api/v1/settings', upstream), { headers: { accept: 'application/json' } });
    if (!answer.ok) return reply.code(502).send({ error: 'bad_gateway', message: `The Web UI answered ${answer.status}.` });
    return readOnlySettings(await answer.json());
  });
  app.register(httpProxy, { upstream });
  return app;
}

/**
 * The worker's liveness and readiness over HTTP, for a load balancer or an orchestrator's probes:
 * `GET /healthz` answers 200 while the process runs; `GET /readyz` answers 200 when every check
 * passes, else 503 naming each one that does not, as the API's do (the same bodies: `{"status":"ok"}`,
 * `{"status":"ready","checks":{…}}`, and an `application/problem+json` 503 with `retry-after: 5`).
 * A small node:http listener: a worker has no other HTTP to serve.
 */
import http from 'node:http';
import { failingChecks, type ReadinessCheck } from '../store/readiness';

export type { ReadinessCheck } from '../store/readiness';

export interface HealthServer {
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  close(): Promise<void>;
}

export async function startHealthServer(opts: {
  host: string;
  port: number;
  checks: Record<string, ReadinessCheck>;
  /** Served at /metrics (Prometheus text) when given: the worker's service metrics. */
  metrics?: { contentType: string; metrics(): Promise<string> };
}): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
    };
    const url = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, problem(405, 'Method not allowed', `${req.method} is not allowed`), { allow: 'GET, HEAD' });
    } else if (url === '/healthz') {
      send(200, { status: 'ok' });
    } else if (url === '/readyz') {
      failingChecks(opts.checks).then(
        (failing) => {
          if (failing.length === 0) {
            send(200, { status: 'ready', checks: Object.fromEntries(Object.keys(opts.checks).map((name) => [name, 'ok'])) });
          } else {
            send(503, problem(503, 'Service unavailable', `not ready: ${failing.join('; ')}`), {
              'content-type': 'application/problem+json',
              'retry-after': '5',
            });
          }
        },
        (error: unknown) => send(500, problem(500, 'Internal error', String(error))),
      );
    } else if (url === '/metrics' && opts.metrics) {
      const registry = opts.metrics;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(text),
        (error: unknown) => send(500, problem(500, 'Internal error', String(error))),
      );
    } else {
      send(404, problem(404, 'Not found', `no route ${url}: the worker serves /healthz and /readyz`));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function problem(status: number, title: string, detail: string) {
  return { type: `/problems/${title.toLowerCase().replaceAll(' ', '-')}`, title, status, detail };
}

/**
 * Request bodies are JSON only, parsed safely (no __proto__ tricks), with the exact bytes kept
 * on the request for carrier signature checks.
 */
import type { FastifyInstance } from 'fastify';

export function parseJsonKeepingRawBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });
}

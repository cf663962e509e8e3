/**
 * What fuzzing the API found, pinned down: methods a path does not take answer 405 naming the
 * ones it does, the OpenAPI document states the rules the server enforces on currencies,
 * signatures, free text and durations, and an absurdly long duration is not a server error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';

let api: ApiHarness;
let ops: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  ops = await api.principal('emp-ops', ['ops']);
});
afterAll(async () => api?.close());

type JsonSchema = {
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  pattern?: string;
  allOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
};
type Document = {
  components?: { schemas?: Record<string, JsonSchema> };
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
};

async function openapi(): Promise<Document> {
  const response = await api.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  return JSON.parse(response.body) as Document;
}

/** The JSON body schema of an operation, with a top-level $ref to the document's components resolved. */
async function bodySchema(path: string): Promise<JsonSchema> {
  const document = await openapi();
  const schema = document.paths[path]!.post!.requestBody!.content['application/json']!.schema;
  const name = schema.$ref?.replace('#/components/schemas/', '');
  return name ? document.components!.schemas![name]! : schema;
}

function patternsOf(schema: JsonSchema | undefined): RegExp[] {
  if (!schema) return [];
  return [...(schema.pattern ? [new RegExp(schema.pattern, 'u')] : []), ...(schema.allOf ?? []).flatMap(patternsOf)];
}

const allows = (schema: JsonSchema | undefined, value: string) => patternsOf(schema).every((p) => p.test(value));

describe('methods', () => {
  it.each([
    ['QUERY', '/v1/refunds/r-1', 'GET, HEAD'],
    ['TRACE', '/healthz', 'GET, HEAD'],
    ['DELETE', '/v1/refunds', 'GET, HEAD, POST'],
    ['PUT', '/v1/refunds/r-1/approvals', 'POST'],
  ])('%s %s answers 405 with Allow: %s', async (method, url, allow) => {
    const response = await api.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${ops.apiKey}` } });
    expect(response.statusCode, response.body).toBe(405);
    expect(response.headers.allow).toBe(allow);
    expect(JSON.parse(response.body)).toMatchObject({ type: '/problems/method-not-allowed', status: 405 });
  });

  it('answers 404 for a path no method takes', async () => {
    const response = await api.app.inject({ method: 'TRACE', url: '/v1/nowhere' });
    expect(response.statusCode).toBe(404);
  });
});

describe('the OpenAPI document says what the server enforces', () => {
  it('refund requests: the currency is one of the table, free text has no control characters', async () => {
    const body = await bodySchema('/v1/refunds');
    const currency = body.properties!.currency;
    expect(allows(currency, 'USD')).toBe(true);
    for (const refused of ['', 'usd', 'XXX', 'CHE', 'US']) expect(allows(currency, refused), refused).toBe(false);
    const category = body.properties!.items!.items!.properties!.category;
    expect(allows(category, 'shoes')).toBe(true);
    expect(allows(category, 'sho\u0000es')).toBe(false);
    expect(allows(category, 'shoes\u007f')).toBe(false);
  });

  it('approvals: a signature is 64 bytes of unpadded base64url', async () => {
    const body = await bodySchema('/v1/refunds/{refundId}/approvals');
    const signature = body.oneOf!.find((variant) => variant.properties?.signature)!.properties!.signature;
    expect(allows(signature, 'A'.repeat(86))).toBe(true);
    for (const refused of ['', 'A'.repeat(85), 'A'.repeat(87), `${'A'.repeat(84)}==`, `${'A'.repeat(85)}+`]) {
      expect(allows(signature, refused), refused).toBe(false);
    }
  });

  it('approvals signed with a passkey: the assertion’s fields are unpadded base64url, a DER signature at most 72 bytes', async () => {
    const body = await bodySchema('/v1/refunds/{refundId}/approvals');
    const passkey = body.oneOf!.find((variant) => variant.properties?.assertion)!;
    const assertion = passkey.properties!.assertion!.properties!;
    expect(Object.keys(assertion).sort()).toEqual(['authenticatorData', 'clientDataJSON', 'signature']);
    expect(allows(assertion.signature, 'M'.repeat(96))).toBe(true);
    for (const refused of ['', 'M'.repeat(97), `${'M'.repeat(94)}==`, 'MEUC+Q']) {
      expect(allows(assertion.signature, refused), refused).toBe(false);
    }
  });
});

describe('durations', () => {
  it('lists nothing, rather than failing, for a duration longer than anything waits', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: '/v1/refunds/stuck?olderThan=P44707596939.0280061W',
      headers: { authorization: `Bearer ${ops.apiKey}` },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ refunds: [] });
  });
});

describe('the API docs page', () => {
  async function get(url: string) {
    let response = await api.app.inject({ method: 'GET', url });
    for (let hops = 0; response.statusCode >= 300 && response.statusCode < 400 && hops < 3; hops++) {
      const location = new URL(String(response.headers.location), `http://localhost${url}`);
      response = await api.app.inject({ method: 'GET', url: location.pathname });
    }
    return response;
  }

  it('serves Swagger UI at /docs from this origin only, over the same OpenAPI document', async () => {
    const page = await get('/docs');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(String(page.headers['content-security-policy'])).toContain("default-src 'self'");
    // Every script, stylesheet and image comes from the API itself: nothing from a CDN.
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    const initializer = await get('/docs/static/swagger-initializer.js');
    expect(initializer.statusCode).toBe(200);
    expect(initializer.body).toMatch(/validatorUrl["']?:\s*null/);
    const served = await get('/docs/json');
    expect(served.statusCode).toBe(200);
    expect(Object.keys(JSON.parse(served.body).paths).sort()).toEqual(Object.keys((await openapi()).paths).sort());
  });
});

/**
 * The read-only Web UI of `npm start` (dev/read-only-ui.ts) in front of a real dev server's UI:
 * reads pass, every write the UI's HTTP API offers is refused and never reaches Temporal, and
 * the UI is told to hide its write buttons. The same requests sent to the dev server's own UI
 * succeed, so a refusal here is the proxy's doing (not a CSRF failure or a malformed request).
 */
import { request as httpRequest } from 'node:http';
import { Client, Connection, ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnlySettings, refusalReason, startReadOnlyUi, type ReadOnlyUi } from '../../dev/read-only-ui';
import { resolveTemporalBinary } from '../../dev/temporal-binary';
import { startTemporalDevServer, type TemporalDevServer } from '../../dev/temporal-server';
import { uniqueId } from '../support/stack';

const ns = '/api/v1/namespaces/default';

interface Answer {
  status: number;
  body: string;
  json(): unknown;
}

/** One HTTP request with the path sent exactly as given (fetch would normalize '.' segments). */
function send(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers = { ...opts.headers, ...(payload ? { 'content-type': 'application/json' } : {}) };
  return new Promise((resolve, reject) => {
    // Host and path apart: a URL string would be parsed, and its '.' segments removed, on the way out.
    const { hostname, port } = new URL(base);
    const req = httpRequest({ hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** What the browser holds after loading the UI: the UI server's CSRF cookie, echoed in a header on writes. */
async function browserSession(base: string): Promise<Record<string, string>> {
  const res = await fetch(`${base}/`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('_csrf='));
  if (!cookie) throw new Error('the Web UI set no _csrf cookie');
  const token = cookie.slice('_csrf='.length).split(';', 1)[0] ?? '';
  return { cookie: `_csrf=${token}`, 'x-csrf-token': token };
}

const jsonPayload = (value: unknown) => ({
  metadata: { encoding: Buffer.from('json/plain').toString('base64') },
  data: Buffer.from(JSON.stringify(value)).toString('base64'),
});
const forgedApproval = { approverId: 'emp-invented-1', roles: ['approver'], approvalLimit: 1_000_000, decision: 'approve' };

let temporal: TemporalDevServer;
let ui: ReadOnlyUi;
let client: Client;
let session: Record<string, string>;
const taskQueue = uniqueId('no-worker');
const target = uniqueId('ui-target');
// A workflow named "query": the UI server's own write filter lets any POST whose path contains
// "/workflows/" and "/query/" through, so `workflows/query/signal/...` would pass it.
const namedQuery = 'query';

beforeAll(async () => {
  temporal = await startTemporalDevServer({ binary: await resolveTemporalBinary(), uiPort: 0, searchAttributes: {} });
  ui = await startReadOnlyUi({ upstream: temporal.uiUrl!, port: 0 });
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  // No worker polls this task queue: the workflows stay running with nothing but their start in history.
  for (const workflowId of [target, namedQuery]) await client.workflow.start('refund', { taskQueue, workflowId, args: [] });
  session = await browserSession(ui.url);
});

afterAll(async () => {
  await client?.connection.close();
  await ui?.close();
  await temporal?.stop();
});

describe('the read-only Temporal Web UI', () => {
  it('serves the UI and every read', async () => {
    const index = await send(ui.url, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.body).toContain('<html');
    // Passed on as it is: the UI server itself answers HEAD with 405.
    expect((await send(ui.url, 'HEAD', '/')).status).toBe((await send(temporal.uiUrl!, 'HEAD', '/')).status);

    const listPath = `${ns}/workflows?query=${encodeURIComponent(`WorkflowId = "${target}"`)}`;
    await expect
      .poll(async () => {
        const list = await send(ui.url, 'GET', listPath);
        expect(list.status).toBe(200);
        return (list.json() as { executions?: Array<{ execution: { workflowId: string } }> }).executions?.map(
          (e) => e.execution.workflowId,
        );
      })
      .toEqual([target]);
    const described = await send(ui.url, 'GET', `${ns}/workflows/${target}`);
    expect(described.status).toBe(200);
    expect(described.body).toContain('WORKFLOW_EXECUTION_STATUS_RUNNING');
  });

  it('tells the UI that write actions are disabled', async () => {
    const direct = (await send(temporal.uiUrl!, 'GET', '/api/v1/settings')).json() as Record<string, unknown>;
    expect(direct.DisableWriteActions).toBe(false);
    const settings = await send(ui.url, 'GET', '/api/v1/settings');
    expect(settings.status).toBe(200);
    expect(settings.json()).toMatchObject({
      DisableWriteActions: true,
      WorkflowSignalDisabled: true,
      WorkflowUpdateDisabled: true,
      WorkflowTerminateDisabled: true,
      WorkflowResetDisabled: true,
      BatchActionsDisabled: true,
      StartWorkflowDisabled: true,
      DefaultNamespace: direct.DefaultNamespace,
      Version: direct.Version,
    });
  });

  it('lets workflow queries through, which change nothing', async () => {
    const query = await send(ui.url, 'POST', `${ns}/workflows/${uniqueId('absent')}/query/status`, { headers: session, body: {} });
    // Forwarded: Temporal itself answers that the workflow does not exist.
    expect(query.status).toBe(404);
    expect(query.body).toMatch(/not found/i);
  });

  const started = uniqueId('ui-started');
  const schedule = uniqueId('ui-schedule');
  const writes: Array<[string, string, string, unknown?, Record<string, string>?]> = [
    ['signal', 'POST', `${ns}/workflows/${target}/signal/carrierEvent`, { input: { payloads: [jsonPayload({ status: 'delivered' })] } }],
    [
      'update',
      'POST',
      `${ns}/workflows/${target}/update/decide`,
      { request: { input: { name: 'decide', args: { payloads: [jsonPayload(forgedApproval)] } } } },
    ],
    ['terminate', 'POST', `${ns}/workflows/${target}/terminate`, { reason: 'ui' }],
    ['cancel', 'POST', `${ns}/workflows/${target}/cancel`, {}],
    ['reset', 'POST', `${ns}/workflows/${target}/reset`, { workflowTaskFinishEventId: '2' }],
    [
      'signal-with-start',
      'POST',
      `${ns}/workflows/${target}/signal-with-start/carrierEvent`,
      { workflowType: { name: 'refund' }, taskQueue: { name: taskQueue } },
    ],
    ['start workflow', 'POST', `${ns}/workflows/${started}`, { workflowType: { name: 'refund' }, taskQueue: { name: taskQueue } }],
    [
      'batch terminate',
      'POST',
      `${ns}/batch-operations/${uniqueId('batch')}`,
      { visibilityQuery: `TaskQueue = "${taskQueue}"`, terminationOperation: {} },
    ],
    ['create schedule', 'POST', `${ns}/schedules/${schedule}`, { schedule: { spec: { interval: [{ interval: '60s' }] } } }],
    ['delete schedule', 'DELETE', `${ns}/schedules/${schedule}`],
    ['update namespace', 'POST', `${ns}/update`, { updateInfo: { description: 'changed through the UI' } }],
    ['PUT', 'PUT', `${ns}/workflows/${target}`, {}],
    ['PATCH', 'PATCH', `${ns}/schedules/${schedule}`, {}],
    ['signal to a workflow named "query"', 'POST', `${ns}/workflows/${namedQuery}/signal/carrierEvent`, {}],
    ['terminate dressed as a query (dot segment)', 'POST', `${ns}/workflows/./query/terminate`, { reason: 'ui' }],
    ['terminate dressed as a query (%2e segment)', 'POST', `${ns}/workflows/%2e/query/terminate`, { reason: 'ui' }],
    // The UI server's own filter matches "/workflows/" and "/query/" in the decoded path: an encoded job id passes it.
    [
      'batch terminate with "/workflows/query/" in its job id',
      'POST',
      `${ns}/batch-operations/a%2Fworkflows%2Fquery%2Fb`,
      { visibilityQuery: `TaskQueue = "${taskQueue}"`, terminationOperation: {} },
    ],
    ['query with a method override', 'POST', `${ns}/workflows/${target}/query/status`, {}, { 'x-http-method-override': 'DELETE' }],
  ];

  it.each(writes)('refuses %s with 403 and a reason', async (_name, method, path, body, headers) => {
    const answer = await send(ui.url, method, path, { headers: { ...session, ...headers }, body });
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error: 'read_only', message: expect.stringContaining('read-only') });
  });

  it('let nothing through to Temporal', async () => {
    for (const workflowId of [target, namedQuery]) {
      const handle = client.workflow.getHandle(workflowId);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.map((e) => e.eventType)).toEqual([1, 5]); // WorkflowExecutionStarted, WorkflowTaskScheduled
    }
    await expect(client.workflow.getHandle(started).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(client.schedule.getHandle(schedule).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    const namespace = await client.workflowService.describeNamespace({ namespace: 'default' });
    expect(namespace.namespaceInfo?.description).not.toBe('changed through the UI');
  });

  it('refuses what the dev server’s own UI would have accepted', async () => {
    const control = uniqueId('ui-control');
    await client.workflow.start('refund', { taskQueue, workflowId: control, args: [] });
    const [name, method, path, body] = writes[0]!;
    expect(name).toBe('signal');
    const viaProxy = await send(ui.url, method, path.replace(target, control), { headers: session, body });
    expect(viaProxy.status).toBe(403);
    const direct = await send(temporal.uiUrl!, method, path.replace(target, control), { headers: session, body });
    expect(direct.status).toBe(200);
    const history = await client.workflow.getHandle(control).fetchHistory();
    expect(history.events?.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'carrierEvent')).toBe(true);
  });
});

describe('what counts as a write', () => {
  it.each([
    ['GET', `${ns}/workflows`],
    ['HEAD', '/'],
    ['POST', `${ns}/workflows/r-1/query/status`],
    ['POST', `${ns}/workflows/r%2F1/query/__stack_trace?x=1`],
  ])('%s %s is a read', (method, url) => {
    expect(refusalReason(method, url, {})).toBeUndefined();
  });

  it.each([
    ['POST', `${ns}/workflows/r-1/signal/carrierEvent`],
    ['POST', `${ns}/workflows/query/signal/carrierEvent`],
    ['POST', `${ns}/batch-operations/a%2Fworkflows%2Fquery%2Fb`],
    ['POST', `${ns}/workflows/a%2Fquery%2Fb/signal/carrierEvent`],
    ['POST', `${ns}/workflows/./query/terminate`],
    ['POST', `${ns}/workflows/%2E/query/terminate`],
    ['POST', `${ns}/workflows/r-1/query/status/extra`],
    ['POST', `${ns}/workflows/r-1/query/`],
    ['POST', `/api/v1//namespaces/default/workflows/r-1/query/status`],
    ['POST', `${ns}/workflows/r\\1/query/status`],
    ['POST', '/api/v1/namespaces/default/workflows/r-1/query/a/../../terminate'],
    ['DELETE', `${ns}/schedules/s-1`],
    ['OPTIONS', `${ns}/workflows`],
  ])('%s %s is refused', (method, url) => {
    expect(refusalReason(method, url, {})).toBeDefined();
  });

  it('refuses method override headers, which could turn a query into another call', () => {
    expect(refusalReason('POST', `${ns}/workflows/r-1/query/status`, { 'x-http-method-override': 'DELETE' })).toMatch(/override/);
  });

  it('keeps the rest of the settings and switches every write off', () => {
    expect(readOnlySettings({ DefaultNamespace: 'default', DisableWriteActions: false })).toMatchObject({
      DefaultNamespace: 'default',
      DisableWriteActions: true,
    });
    expect(readOnlySettings(null)).toMatchObject({ DisableWriteActions: true });
  });
});

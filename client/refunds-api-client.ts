/**
 * The typed client for the HTTP API, for callers that do not run next to Temporal and PostgreSQL
 * (the `refunds` CLI, refund services written in TypeScript). It validates input with the same
 * message schemas as the API before sending anything, and turns problem answers into
 * RefundApiError with the problem attached.
 */
import { randomUUID } from 'node:crypto';
import type { RefundState } from '../workflows/refund-model';
import { ApprovalDecision, BreakerLift, CarrierEvent, RefundRequest, WarehouseReceipt } from '../workflows/schemas';
import { base64urlDecode, newNonce, RegistryEntry, signStatement } from '../workflows/statements';
import type { z } from 'zod';
import {
  canonicalCarrier,
  CARRIER_KEY_ID_PATTERN,
  CARRIER_SIGNATURE_HEADER,
  type CarrierSigningKey,
  signCarrierPayload,
} from './carrier-signature';
import { InvalidInputError } from './errors';
import { EndorsementBody, RevocationBody, type RegistryView, type RevocationStored, type StoredEntryView } from './registry-views';
import { requestBodyOf } from './views';
import { type WebhookDelivery, type WebhookSubscription, WebhookSubscriptionBody, type WebhookSubscriptionCreated } from './webhook-views';
import {
  AlertAckBody,
  EscalateBody,
  ExtendDeadlineBody,
  NudgeBody,
  type ApprovalsInbox,
  type RefundList,
  type StuckSummary,
} from './ops-views';
import type {
  ApprovalBody,
  AuditVerification,
  Breaker,
  CarrierEventAccepted,
  OpsAlert,
  Problem,
  RefundView,
  ScanBody,
  StoredCarrierEvent,
  StuckRefund,
} from './views';

export interface RefundsApiClientOptions {
  /** e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  /** An API key from `refunds-admin principal add`; needed for everything but carrier events. */
  apiKey?: string;
  /** Only for sending carrier events: the carrier's signing key, `{ carrier, keyId, secret }`. */
  carrierKey?: CarrierSigningKey;
  /** For requesting refunds (a refund service's key), approving and rejecting (an approver's) and scanning (a scanner's): the principal's registered Ed25519 key (`refunds-admin principal add` writes it). */
  signingKey?: SigningKey;
  timeoutMs?: number;
  /**
   * How many times a decision, cancel or scan is sent again, with the same Idempotency-Key and
   * body, when its answer is lost (no answer, a timeout) or is 503 or 429 (default 2). A retry
   * gets the first answer if the first attempt went through, so nothing is decided twice.
   */
  retries?: number;
}

/** The longest wait between two attempts, whatever Retry-After says. */
const MAX_RETRY_WAIT_MS = 5_000;

/** A principal's signing key: its id, the key's id in the registry, and the 32-byte secret key (or its base64url). */
export interface SigningKey {
  principalId: string;
  keyId: string;
  secretKey: Uint8Array | string;
}

/** The API refused or failed a request; `problem` is its RFC 9457 answer. */
export class RefundApiError extends Error {
  override name = 'RefundApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    message: string,
    /** The answer's Retry-After, in seconds, when it had one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

function parse<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw InvalidInputError.fromZod(what, result.error);
  return result.data;
}

export class RefundsApiClient {
  private readonly baseUrl: string;

  constructor(private readonly options: RefundsApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /**
   * Requests a refund as the refund service whose signing key this client holds: signs the request
   * (a refund_request statement naming that service) and sends it with its signature. `created` is
   * false when the same request had been made before. The workflow verifies the signature against
   * the key registry: a request signed with a key that does not count comes back `rejected`.
   */
  async requestRefund(input: z.input<typeof RefundRequest>): Promise<{ created: boolean; refund: RefundView }> {
    const request = parse(RefundRequest, 'refund request', input);
    const key = this.signingKeyFor('refund request', 'refund requests');
    const signed = signStatement(
      {
        kind: 'refund_request',
        request,
        requestedBy: key.principalId,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
      },
      key.secretKey,
    );
    const { status, body } = await this.send('POST', '/v1/refunds', requestBodyOf(signed));
    return { created: status === 201, refund: body as RefundView };
  }

  /**
   * Sends a tracking event the way a carrier does, signed with the carrier's key; the event must
   * name that carrier. The API answers 202 once the event is stored: `pending` is true when no
   * refund has it yet (it is delivered when the refund is requested). The same event id with a
   * different body throws RefundApiError 409 (carrier-event-conflict).
   */
  async sendCarrierEvent(input: z.input<typeof CarrierEvent>): Promise<CarrierEventAccepted> {
    const key = this.carrierKey();
    const event = parse(CarrierEvent, 'carrier event', input);
    if (canonicalCarrier(event.carrier) !== canonicalCarrier(key.carrier)) {
      throw new InvalidInputError('carrier event', [
        { path: 'carrier', message: `the event names ${event.carrier}, but the key ${key.keyId} signs for ${key.carrier}` },
      ]);
    }
    const raw = JSON.stringify(event);
    const { body } = await this.send(
      'POST',
      '/v1/carrier-events',
      raw,
      { [CARRIER_SIGNATURE_HEADER]: signCarrierPayload(key, raw) },
      false,
    );
    return body as CarrierEventAccepted;
  }

  /**
   * Records a receipt scan, signed with the scanner's signing key; the scanner is whoever the API
   * key belongs to, and the signing key must be theirs. The workflow verifies the signature against
   * the key registry, so a scan counts only from a registered warehouse principal.
   */
  async recordWarehouseScan(refundId: string, receipt: z.input<typeof WarehouseReceipt>): Promise<{ refundId: string; eventId: string }> {
    const parsed = parse(WarehouseReceipt, 'warehouse receipt', receipt);
    const { key, secretKey } = this.signingKey('scan');
    const { statement, signature } = signStatement(
      {
        kind: 'warehouse_receipt',
        refundId,
        receipt: parsed,
        scannedBy: key.principalId,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
      },
      secretKey,
    );
    const body: ScanBody = {
      ...statement.receipt,
      keyId: statement.keyId,
      signedAt: statement.signedAt,
      nonce: statement.nonce,
      signature,
    };
    return (await this.send('POST', `${this.refundPath(refundId)}/warehouse-scans`, body)).body as { refundId: string; eventId: string };
  }

  /** The configured signing key, checked before anything is signed. */
  private signingKey(what: string): { key: SigningKey; secretKey: Uint8Array } {
    const key = this.options.signingKey;
    if (!key) throw new InvalidInputError(what, [{ path: '', message: `a signing key is needed to sign a ${what} (REFUNDS_SIGNING_KEY)` }]);
    const secretKey = typeof key.secretKey === 'string' ? base64urlDecode(key.secretKey) : key.secretKey;
    if (secretKey?.length !== 32)
      throw new InvalidInputError('signing key', [{ path: 'secretKey', message: 'must be 32 bytes (base64url)' }]);
    return { key, secretKey };
  }

  /**
   * Decides a refund as the approver whose signing key this client holds: reads the refund's amount
   * and currency, signs the decision for exactly those and sends it. The workflow verifies the
   * signature against the key registry, so a decision signed for another amount counts for nothing.
   */
  async decide(refundId: string, decision: z.input<typeof ApprovalDecision>): Promise<RefundView> {
    const parsed = parse(ApprovalDecision, 'approval', decision);
    // Bad input or no signing key is refused before the refund is read.
    this.signingKeyFor('approval', 'decisions');
    const body = this.signedApprovalBody(await this.getRefund(refundId), parsed);
    return (await this.mutate(`${this.refundPath(refundId)}/approvals`, body)).body as RefundView;
  }

  /**
   * The body `decide` sends: the decision signed with this client's key for exactly the refund's
   * amount and currency. For a caller that sends it itself (under an Idempotency-Key of its own).
   */
  signedApprovalBody(
    refund: Pick<RefundView, 'refundId' | 'amount' | 'currency'>,
    decision: z.input<typeof ApprovalDecision>,
  ): ApprovalBody {
    const { decision: verdict, reason } = parse(ApprovalDecision, 'approval', decision);
    const { secretKey, ...key } = this.signingKeyFor('approval', 'decisions');
    const { statement, signature } = signStatement(
      {
        kind: 'decision',
        refundId: refund.refundId,
        amount: refund.amount,
        currency: refund.currency,
        decision: verdict,
        ...(reason ? { reason } : {}),
        approverId: key.principalId,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
      },
      secretKey,
    );
    const { amount, currency, signedAt, nonce, keyId } = statement;
    return { decision: verdict, ...(reason ? { reason } : {}), amount, currency, keyId, signedAt, nonce, signature };
  }

  approve(refundId: string, reason?: string): Promise<RefundView> {
    return this.decide(refundId, { decision: 'approve', ...(reason ? { reason } : {}) });
  }

  reject(refundId: string, reason: string): Promise<RefundView> {
    return this.decide(refundId, { decision: 'reject', reason });
  }

  async cancel(refundId: string, reason: string): Promise<RefundView> {
    return (await this.mutate(`${this.refundPath(refundId)}/cancel`, { reason })).body as RefundView;
  }

  async getRefund(refundId: string): Promise<RefundView> {
    return (await this.send('GET', this.refundPath(refundId))).body as RefundView;
  }

  /** Refunds waiting too long, oldest first. `olderThan` is an ISO 8601 duration such as PT2H. */
  async listStuck(query: StuckFilterQuery = {}): Promise<StuckRefund[]> {
    return ((await this.send('GET', `/v1/refunds/stuck${stuckSearch(query)}`)).body as { refunds: StuckRefund[] }).refunds;
  }

  /**
   * Verifies the audit trail (chains, read model, signed checkpoints); `findings` says what was
   * found and where. `workflows` also compares each in-flight refund's own audit head.
   */
  async verifyAudit(options: { workflows?: boolean } = {}): Promise<AuditVerification> {
    const search = options.workflows ? '?workflows=true' : '';
    return (await this.send('GET', `/v1/audit/verification${search}`)).body as AuditVerification;
  }

  /** Lifts an employee's tripped circuit breaker; you (an admin) are the one lifting it, and it is audited. */
  async liftBreaker(employeeId: string, reason: string): Promise<Breaker> {
    const body = parse(BreakerLift.pick({ employeeId: true, reason: true }), 'breaker lift', { employeeId, reason });
    return (await this.send('POST', `${this.employeePath(body.employeeId)}/breaker/lift`, { reason: body.reason })).body as Breaker;
  }

  /** An employee's circuit breakers, newest first; a tripped one has `liftedAt: null`. */
  async breakers(employeeId: string): Promise<Breaker[]> {
    const employee = parse(BreakerLift.pick({ employeeId: true }), 'employee', { employeeId });
    return ((await this.send('GET', `${this.employeePath(employee.employeeId)}/breakers`)).body as { breakers: Breaker[] }).breakers;
  }

  /** Operations alerts (breakers tripped) not yet delivered, oldest first. */
  async undeliveredAlerts(limit?: number): Promise<OpsAlert[]> {
    const search = limit !== undefined ? `?limit=${limit}` : '';
    return ((await this.send('GET', `/v1/ops/alerts${search}`)).body as { alerts: OpsAlert[] }).alerts;
  }

  /** Carrier events no refund has taken yet (`pending`, expired ones included) or kept as `conflict`s, oldest first. */
  async listCarrierEvents(status: 'pending' | 'conflict', limit?: number): Promise<StoredCarrierEvent[]> {
    if (status !== 'pending' && status !== 'conflict') {
      throw new InvalidInputError('carrier event listing', [{ path: 'status', message: 'must be "pending" or "conflict"' }]);
    }
    const params = new URLSearchParams({ status, ...(limit !== undefined ? { limit: String(limit) } : {}) });
    return ((await this.send('GET', `/v1/ops/carrier-events?${params}`)).body as { events: StoredCarrierEvent[] }).events;
  }

  /**
   * Proposes a principal's registry entry (public keys only), as an admin or as the principal
   * itself; it counts once two trust-root admins endorse it. `created` is false when it was there.
   */
  async proposeRegistryEntry(input: z.input<typeof RegistryEntry>): Promise<StoredEntryView> {
    const entry = parse(RegistryEntry, 'registry entry', input);
    return (await this.send('POST', `${this.principalPath(entry.principalId)}/registry-entries`, entry)).body as StoredEntryView;
  }

  /** A principal's registry: every entry (pending or current) with its endorsements, its revocations, and what counts now. */
  async principalRegistry(principalId: string): Promise<RegistryView> {
    return (await this.send('GET', `${this.principalPath(principalId)}/registry`)).body as RegistryView;
  }

  /** Posts your endorsement (made with `endorseEntry` and your trust-root key) of a principal's entry at `version`. */
  async endorseRegistryEntry(principalId: string, version: number, input: z.input<typeof EndorsementBody>): Promise<RegistryView> {
    const body = parse(EndorsementBody, 'endorsement', input);
    const path = `${this.principalPath(principalId)}/registry-entries/${encodeURIComponent(String(version))}/endorsements`;
    return (await this.send('POST', path, body)).body as RegistryView;
  }

  /** Posts your signed revocation (`signRevocation`) of a principal's key, or of the whole principal. */
  async revokeRegistryKey(input: z.input<typeof RevocationBody>): Promise<RevocationStored> {
    const body = parse(RevocationBody, 'revocation', input);
    return (await this.send('POST', `${this.principalPath(body.revocation.principalId)}/revocations`, body)).body as RevocationStored;
  }

  /** Subscribes a URL to events as signed webhooks (admins); the answer holds the signing secret, shown this once. */
  async addWebhookSubscription(input: WebhookSubscriptionBody): Promise<WebhookSubscriptionCreated> {
    const body = parse(WebhookSubscriptionBody, 'webhook subscription', input);
    return (await this.mutate('/v1/webhooks/subscriptions', body)).body as WebhookSubscriptionCreated;
  }

  /** Every webhook subscription, newest first, without secrets (admins). */
  async webhookSubscriptions(): Promise<WebhookSubscription[]> {
    return ((await this.send('GET', '/v1/webhooks/subscriptions')).body as { subscriptions: WebhookSubscription[] }).subscriptions;
  }

  /** Disables a webhook subscription: nothing more is delivered to it (admins). */
  async disableWebhookSubscription(subscriptionId: string, reason?: string): Promise<WebhookSubscription> {
    const path = `/v1/webhooks/subscriptions/${encodeURIComponent(subscriptionId)}/disable`;
    return (await this.mutate(path, reason ? { reason } : {})).body as WebhookSubscription;
  }

  /** A subscription's recent deliveries, newest first (admins). */
  async webhookDeliveries(subscriptionId: string, limit?: number): Promise<WebhookDelivery[]> {
    const search = limit !== undefined ? `?limit=${limit}` : '';
    const path = `/v1/webhooks/subscriptions/${encodeURIComponent(subscriptionId)}/deliveries${search}`;
    return ((await this.send('GET', path)).body as { deliveries: WebhookDelivery[] }).deliveries;
  }

  /** The configured signing key with its secret key decoded, checked before anything is signed; `what` and `signs` word the error. */
  private signingKeyFor(what: string, signs: string): SigningKey & { secretKey: Uint8Array } {
    const key = this.options.signingKey;
    if (!key) throw new InvalidInputError(what, [{ path: '', message: `a signing key is needed to sign ${signs} (REFUNDS_SIGNING_KEY)` }]);
    const secretKey = typeof key.secretKey === 'string' ? base64urlDecode(key.secretKey) : key.secretKey;
    if (secretKey?.length !== 32)
      throw new InvalidInputError('signing key', [{ path: 'secretKey', message: 'must be 32 bytes (base64url)' }]);
    return { ...key, secretKey };
  }

  /** The configured carrier key, checked before anything is signed. */
  private carrierKey(): CarrierSigningKey {
    const key = this.options.carrierKey;
    const issues = [
      ...(!key?.carrier?.trim() ? [{ path: 'carrierKey.carrier', message: 'the carrier the key signs for is needed' }] : []),
      ...(!key?.keyId || !CARRIER_KEY_ID_PATTERN.test(key.keyId)
        ? [{ path: 'carrierKey.keyId', message: 'must be the key id the API knows this key by (A-Z a-z 0-9 . _ -)' }]
        : []),
      ...(!key?.secret ? [{ path: 'carrierKey.secret', message: 'the secret of that key is needed to sign' }] : []),
    ];
    if (!key || issues.length > 0) throw new InvalidInputError('carrier key', issues);
    return key;
  }

  private principalPath(principalId: string): string {
    return `/v1/principals/${encodeURIComponent(principalId)}`;
  }

  private employeePath(employeeId: string): string {
    return `/v1/employees/${encodeURIComponent(employeeId)}`;
  }

  /**
   * Refunds newest first, a page at a time: pass the last refund id of a page as `startingAfter`
   * for the next; `has_more` says whether there is one. Operations and admins see every refund, a
   * refund service its own.
   */
  async listRefunds(filters: RefundListQuery = {}, page: { limit?: number; startingAfter?: string } = {}): Promise<RefundList> {
    const params = new URLSearchParams();
    for (const state of filters.states ?? []) params.append('state', state);
    for (const party of filters.waitingFor ?? []) params.append('waitingFor', party);
    if (filters.customerId !== undefined) params.set('customerId', filters.customerId);
    if (filters.orderId !== undefined) params.set('orderId', filters.orderId);
    if (filters.stuck !== undefined) params.set('stuck', String(filters.stuck));
    if (page.limit !== undefined) params.set('limit', String(page.limit));
    if (page.startingAfter !== undefined) params.set('starting_after', page.startingAfter);
    return (await this.send('GET', `/v1/refunds${params.size > 0 ? `?${params}` : ''}`)).body as RefundList;
  }

  /** The refunds awaiting approval that you (an approver) may decide, longest waiting first. */
  async approvalsInbox(): Promise<ApprovalsInbox> {
    return (await this.send('GET', '/v1/approvals/inbox')).body as ApprovalsInbox;
  }

  /** Stuck refunds counted and summed (minor units per currency), in total, by state and by what they wait for. */
  async stuckSummary(query: StuckFilterQuery = {}): Promise<StuckSummary> {
    return (await this.send('GET', `/v1/refunds/stuck/summary${stuckSearch(query)}`)).body as StuckSummary;
  }

  /** The stuck listing as CSV text (formula-safe cells). */
  async stuckCsv(query: StuckFilterQuery & { limit?: number } = {}): Promise<string> {
    return String((await this.send('GET', `/v1/refunds/stuck.csv${stuckSearch(query)}`)).body ?? '');
  }

  /** Hands the refund to another approver group (e.g. finance-leads), with your reason; audited. You need the ops role. */
  async escalate(refundId: string, group: string, reason: string): Promise<RefundView> {
    const body = parse(EscalateBody, 'escalation', { group, reason });
    return (await this.mutate(`${this.refundPath(refundId)}/escalate`, body)).body as RefundView;
  }

  /** Extends the deadline of the refund's current stage by `by` (ISO 8601 duration, e.g. P2D); capped by the policy. */
  async extendDeadline(refundId: string, by: string, reason: string): Promise<RefundView> {
    const body = parse(ExtendDeadlineBody, 'deadline extension', { by, reason });
    return (await this.mutate(`${this.refundPath(refundId)}/extend-deadline`, body)).body as RefundView;
  }

  /** Asks the carrier or the warehouse again, while the refund waits for it; audited. */
  async nudge(refundId: string, party: 'carrier' | 'warehouse', reason: string): Promise<RefundView> {
    const body = parse(NudgeBody, 'nudge', { party, reason });
    return (await this.mutate(`${this.refundPath(refundId)}/nudge`, body)).body as RefundView;
  }

  /** Acknowledges an operations alert; acknowledging again answers the first acknowledgement. */
  async acknowledgeAlert(alertId: number, note?: string): Promise<OpsAlert> {
    const body = parse(AlertAckBody, 'acknowledgement', note === undefined ? {} : { note });
    return (await this.mutate(`/v1/ops/alerts/${encodeURIComponent(String(alertId))}/ack`, body)).body as OpsAlert;
  }

  /** Operations alerts, oldest first: by default those not yet delivered; filter by delivery and acknowledgement. */
  async listAlerts(query: { delivered?: boolean | 'any'; acknowledged?: boolean; limit?: number } = {}): Promise<OpsAlert[]> {
    const params = new URLSearchParams();
    if (query.delivered !== undefined) params.set('delivered', String(query.delivered));
    if (query.acknowledged !== undefined) params.set('acknowledged', String(query.acknowledged));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    return ((await this.send('GET', `/v1/ops/alerts${params.size > 0 ? `?${params}` : ''}`)).body as { alerts: OpsAlert[] }).alerts;
  }

  private refundPath(refundId: string): string {
    return `/v1/refunds/${encodeURIComponent(refundId)}`;
  }

  /**
   * A POST under a new Idempotency-Key, sent again with the same key and body while its answer is
   * lost or the service is briefly unavailable: the API answers a retry of a request that went
   * through with that request's answer (docs/api.md, "Retrying safely").
   */
  private async mutate(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const headers = { 'idempotency-key': randomUUID() };
    const retries = this.options.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.send('POST', path, body, headers);
      } catch (error) {
        const wait = retryWait(error);
        if (attempt >= retries || wait === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    authenticated = true,
  ): Promise<{ status: number; body: unknown }> {
    if (authenticated && !this.options.apiKey) {
      throw new RefundApiError(401, undefined, 'no API key: set REFUNDS_API_KEY to a key from `refunds-admin principal add`');
    }
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        accept: 'application/json, application/problem+json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(authenticated ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!response.ok) {
      const problem = typeof parsed === 'object' && parsed !== null && 'title' in parsed ? (parsed as Problem) : undefined;
      const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
      throw new RefundApiError(
        response.status,
        problem,
        problem ? `${problem.title}: ${problem.detail}` : `HTTP ${response.status}: ${text.slice(0, 200)}`,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
      );
    }
    return { status: response.status, body: parsed };
  }
}

/** The filters of GET /v1/refunds. */
export interface RefundListQuery {
  states?: RefundState[];
  customerId?: string;
  orderId?: string;
  /** carrier, warehouse, risk, approval, payout */
  waitingFor?: Array<'carrier' | 'warehouse' | 'risk' | 'approval' | 'payout'>;
  stuck?: boolean;
}

/** The filters of the stuck listing, its summary and its CSV; amounts in minor units. */
export interface StuckFilterQuery {
  olderThan?: string;
  states?: RefundState[];
  currency?: string;
  amountMin?: number;
  amountMax?: number;
  limit?: number;
}

function stuckSearch(query: StuckFilterQuery): string {
  const params = new URLSearchParams();
  if (query.olderThan) params.set('olderThan', query.olderThan);
  for (const state of query.states ?? []) params.append('state', state);
  if (query.currency !== undefined) params.set('currency', query.currency);
  if (query.amountMin !== undefined) params.set('amountMin', String(query.amountMin));
  if (query.amountMax !== undefined) params.set('amountMax', String(query.amountMax));
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  return params.size > 0 ? `?${params}` : '';
}

/** How long to wait before retrying after `error`, or undefined when a retry cannot help. */
function retryWait(error: unknown): number | undefined {
  if (error instanceof RefundApiError) {
    if (error.status !== 503 && error.status !== 429) return undefined;
    return Math.min((error.retryAfterSeconds ?? 1) * 1000, MAX_RETRY_WAIT_MS);
  }
  // fetch failed (refused, reset, timed out): the request may or may not have reached the API.
  return error instanceof TypeError || (error instanceof DOMException && error.name === 'TimeoutError') ? 500 : undefined;
}

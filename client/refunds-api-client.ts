/**
 * The typed client for the HTTP API, for callers that do not run next to Temporal and PostgreSQL
 * (the `refunds` CLI, refund services written in TypeScript). It validates input with the same
 * message schemas as the API before sending anything, and turns problem answers into
 * RefundApiError with the problem attached.
 */
import type { RefundState } from '../workflows/refund-model';
import { ApprovalDecision, BreakerLift, CarrierEvent, RefundRequest, WarehouseReceipt } from '../workflows/schemas';
import { base64urlDecode, newNonce, signStatement } from '../workflows/statements';
import type { z } from 'zod';
import {
  canonicalCarrier,
  CARRIER_KEY_ID_PATTERN,
  CARRIER_SIGNATURE_HEADER,
  type CarrierSigningKey,
  signCarrierPayload,
} from './carrier-signature';
import { InvalidInputError } from './errors';
import { requestBodyOf } from './views';
import type {
  ApprovalBody,
  AuditVerification,
  Breaker,
  CarrierEventAccepted,
  OpsAlert,
  Problem,
  RefundView,
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
  /** For requesting refunds (a refund service's key) and for approving and rejecting (an approver's): the principal's registered Ed25519 key (`refunds-admin principal add` writes it). */
  signingKey?: SigningKey;
  timeoutMs?: number;
}

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

  /** Records a receipt scan; the scanner is whoever the API key belongs to. */
  async recordWarehouseScan(refundId: string, receipt: z.input<typeof WarehouseReceipt>): Promise<{ refundId: string; eventId: string }> {
    const body = parse(WarehouseReceipt, 'warehouse receipt', receipt);
    return (await this.send('POST', `${this.refundPath(refundId)}/warehouse-scans`, body)).body as { refundId: string; eventId: string };
  }

  /**
   * Decides a refund as the approver whose signing key this client holds: reads the refund's amount
   * and currency, signs the decision for exactly those and sends it. The workflow verifies the
   * signature against the key registry, so a decision signed for another amount counts for nothing.
   */
  async decide(refundId: string, decision: z.input<typeof ApprovalDecision>): Promise<RefundView> {
    const { decision: verdict, reason } = parse(ApprovalDecision, 'approval', decision);
    const { secretKey, ...key } = this.signingKeyFor('approval', 'decisions');
    const refund = await this.getRefund(refundId);
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
    const body: ApprovalBody = { decision: verdict, ...(reason ? { reason } : {}), amount, currency, keyId, signedAt, nonce, signature };
    return (await this.send('POST', `${this.refundPath(refundId)}/approvals`, body)).body as RefundView;
  }

  approve(refundId: string, reason?: string): Promise<RefundView> {
    return this.decide(refundId, { decision: 'approve', ...(reason ? { reason } : {}) });
  }

  reject(refundId: string, reason: string): Promise<RefundView> {
    return this.decide(refundId, { decision: 'reject', reason });
  }

  async cancel(refundId: string, reason: string): Promise<RefundView> {
    return (await this.send('POST', `${this.refundPath(refundId)}/cancel`, { reason })).body as RefundView;
  }

  async getRefund(refundId: string): Promise<RefundView> {
    return (await this.send('GET', this.refundPath(refundId))).body as RefundView;
  }

  /** Refunds waiting too long, oldest first. `olderThan` is an ISO 8601 duration such as PT2H. */
  async listStuck(query: { olderThan?: string; states?: RefundState[]; limit?: number } = {}): Promise<StuckRefund[]> {
    const params = new URLSearchParams();
    if (query.olderThan) params.set('olderThan', query.olderThan);
    for (const state of query.states ?? []) params.append('state', state);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const search = params.size > 0 ? `?${params}` : '';
    return ((await this.send('GET', `/v1/refunds/stuck${search}`)).body as { refunds: StuckRefund[] }).refunds;
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

  private employeePath(employeeId: string): string {
    return `/v1/employees/${encodeURIComponent(employeeId)}`;
  }

  private refundPath(refundId: string): string {
    return `/v1/refunds/${encodeURIComponent(refundId)}`;
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
      throw new RefundApiError(
        response.status,
        problem,
        problem ? `${problem.title}: ${problem.detail}` : `HTTP ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    return { status: response.status, body: parsed };
  }
}

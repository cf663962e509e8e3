/**
 * The public message contract, defined once. The workflow, the typed client and the HTTP API all
 * validate with these schemas, and every TypeScript type for a message is inferred from them.
 * Objects are strict: an unknown field is an error, not silently dropped.
 */
import { z } from 'zod';
import { CURRENCY_PATTERN } from './currencies';
import { builtOnce } from './built-once';

const built = builtOnce('workflows/schemas');

/** The first C0 control or DEL in `value`: PostgreSQL refuses NUL in text, and none of them belongs in a field anyone reads. */
function firstControlCharacter(value: string): number | undefined {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return code;
  }
  return undefined;
}

/** No C0 control or DEL anywhere: as a pattern, so the API's OpenAPI document says it too. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the pattern is there to refuse them
const NO_CONTROL_CHARACTERS = /^[^\x00-\x1f\x7f]*$/;

/** A string that may hold no control characters; `what` names the field in error messages. */
export const plainString = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(NO_CONTROL_CHARACTERS, { error: (issue) => controlCharacterMessage(what, issue.input) });

function controlCharacterMessage(what: string, input: unknown): string {
  const found = typeof input === 'string' ? firstControlCharacter(input) : undefined;
  const codePoint = `U+${(found ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `${what} must not contain control characters (found ${codePoint})`;
}

/**
 * The same refusal, before trimming, for strings whose own pattern already excludes control
 * characters (ids): one pattern in the OpenAPI document, not two.
 */
const controlFreeString = (what: string) =>
  z.string({ error: `${what} must be a string` }).superRefine((value, ctx) => {
    if (firstControlCharacter(value) !== undefined) ctx.addIssue({ code: 'custom', message: controlCharacterMessage(what, value) });
  });

/** Free text of 1 to `max` characters after trimming, without control characters. */
export const text = (what: string, max: number) =>
  plainString(what).trim().min(1, `${what} must not be empty`).max(max, `${what} must be at most ${max} characters`);

/**
 * The longest id or principal id, in characters. Refund and employee ids are also URL path
 * segments: the API accepts a path parameter as long as such an id fully percent-encoded.
 */
export const MAX_ID_LENGTH = 128;

/** A printable-ASCII identifier of at most MAX_ID_LENGTH characters; `what` names the field in error messages. */
export const id = (what: string) =>
  controlFreeString(what)
    .regex(ID_INPUT, { error: (issue) => idMessage(what, issue.input) })
    .trim();

/**
 * An id as accepted, surrounding spaces included (they are trimmed): one pattern, so the API's
 * OpenAPI document states what the server takes.
 */
const ID_INPUT = new RegExp(`^ *[\\x21-\\x7e]{1,${MAX_ID_LENGTH}} *$`);

function idMessage(what: string, input: unknown): string {
  const trimmed = typeof input === 'string' ? input.trim() : '';
  if (trimmed === '') return `${what} must not be empty`;
  if (trimmed.length > MAX_ID_LENGTH) return `${what} must be at most ${MAX_ID_LENGTH} characters`;
  return `${what} must be printable ASCII without spaces`;
}

/**
 * The alphabet of a principal's id (an employee, a service, "customer"), after trimming and
 * lowercasing. Ids are canonical: `EMP-A` and `emp-a` are one person, so no case alias can count
 * as a second approver or slip past the separation-of-duties rules.
 */
export const PRINCIPAL_ID_PATTERN = /^[a-z0-9][a-z0-9._@:-]{0,127}$/;
const PRINCIPAL_ID_ALPHABET =
  '1 to 128 of a-z 0-9 . _ @ : - starting with a letter or digit (^[a-z0-9][a-z0-9._@:-]{0,127}$, case is ignored)';

/** The canonical form of a principal's id: trimmed and lowercased. Compare and store only this. */
export function canonicalPrincipalId(raw: string): string {
  return raw.trim().toLowerCase();
}

/** A person's or a service's id, canonical (trimmed, lowercased); `what` names the field in error messages. */
export const principalId = (what: string) =>
  controlFreeString(what).regex(PRINCIPAL_ID_INPUT, `${what} must be ${PRINCIPAL_ID_ALPHABET}`).trim().toLowerCase();

/**
 * What is accepted before canonicalising: the alphabet in either case, with surrounding spaces.
 * Checked on the input (rather than PRINCIPAL_ID_PATTERN on the result), so the API's OpenAPI
 * document states what the server takes.
 */
const PRINCIPAL_ID_INPUT = /^ *[A-Za-z0-9][A-Za-z0-9._@:-]{0,127} *$/;

/** A principal's id, canonical, as one schema. */
export const PrincipalId = built('PrincipalId', () => principalId('principal id'));

const timestamp = built('timestamp', () =>
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-11-21T09:30:00Z' }),
);

/** An integer count of a currency's minor units (cents for USD). Never a float. */
export const MinorUnits = built('MinorUnits', () =>
  z
    .number({ error: 'must be a number of minor units' })
    .int('must be an integer number of minor units (no decimals)')
    .positive('must be greater than zero')
    .max(Number.MAX_SAFE_INTEGER, 'is too large'),
);

export const Currency = built('Currency', () =>
  z
    .string({ error: 'currency must be a string' })
    .regex(CURRENCY_PATTERN, { error: (issue) => `unknown ISO 4217 currency ${JSON.stringify(issue.input)}` }),
);

export const RefundItem = built('RefundItem', () =>
  z.strictObject({
    sku: id('sku'),
    quantity: z.number().int('quantity must be a whole number').min(1).max(1000),
    unitAmount: MinorUnits,
    serialNumber: id('serialNumber').optional(),
    category: text('category', 64),
    /** The weight of one unit as shipped, if the catalogue knows it: the parcel's expected weight. */
    weightGrams: z.number().int('weightGrams must be a whole number of grams').positive().max(1_000_000).optional(),
  }),
);
export type RefundItem = z.infer<typeof RefundItem>;

export const CarrierReturn = built('CarrierReturn', () =>
  z.strictObject({
    method: z.literal('carrier').optional(),
    carrier: id('carrier'),
    trackingNumber: id('trackingNumber'),
    /** The warehouse the parcel must be returned to; a delivery to any other facility is a finding. */
    warehouseId: id('warehouseId').optional(),
  }),
);
export const NoReturn = built('NoReturn', () => z.strictObject({ method: z.literal('none') }));
export const ReturnMethod = built('ReturnMethod', () =>
  z.union([CarrierReturn, NoReturn], {
    error: 'return must be { "carrier", "trackingNumber" } or { "method": "none" }',
  }),
);
export type ReturnMethod = z.infer<typeof ReturnMethod>;

export const CUSTOMER = 'customer';

/**
 * What the refund service knows about the customer, for the risk check. Every field is optional;
 * identity fields link accounts that share them, so send stable values: a hash of the normalised
 * shipping address, the payment processor's card fingerprint, the device id.
 */
export const CustomerProfile = built('CustomerProfile', () =>
  z.strictObject({
    accountCreatedAt: timestamp.optional(),
    /** Orders the customer has placed in total, for the share of orders refunded. */
    ordersPlaced: z.number().int('ordersPlaced must be a whole number').min(1).max(10_000_000).optional(),
    shippingAddressHash: id('shippingAddressHash').optional(),
    paymentFingerprint: id('paymentFingerprint').optional(),
    deviceId: id('deviceId').optional(),
  }),
);
export type CustomerProfile = z.infer<typeof CustomerProfile>;

/** Refund ids the API's own paths take (GET /v1/refunds/stuck is the stuck list, stuck.csv its CSV): no refund may have one. */
export const RESERVED_REFUND_IDS: readonly string[] = ['stuck', 'stuck.csv'];

export const RefundId = built('RefundId', () =>
  id('refundId').refine((value) => !RESERVED_REFUND_IDS.includes(value), {
    error: (issue) =>
      `refundId ${JSON.stringify(issue.input)} is reserved: /v1/refunds/${issue.input} is another resource; choose another id`,
  }),
);

/** A refund request's fields, without the checks across them: for bodies that carry a request's fields next to others. */
export const RefundRequestFields = built('RefundRequestFields', () =>
  z.strictObject({
    refundId: RefundId,
    orderId: id('orderId'),
    customerId: id('customerId'),
    currency: Currency,
    items: z.array(RefundItem).min(1, 'items must list at least one item').max(100),
    /** The employee who asked for the refund, or "customer" for self-service. */
    initiatedBy: principalId('initiatedBy'),
    reason: text('reason', 500),
    return: ReturnMethod,
    customer: CustomerProfile.optional(),
  }),
);

/** The checks across a request's fields: one serial number per unit, an amount that fits. */
export function checkRefundRequest(request: Pick<z.infer<typeof RefundRequestFields>, 'items'>, ctx: z.RefinementCtx): void {
  request.items.forEach((item, index) => {
    if (item.serialNumber !== undefined && item.quantity !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['items', index, 'serialNumber'],
        message: 'an item with a serialNumber must have quantity 1 (list each serial separately)',
      });
    }
  });
  if (!Number.isSafeInteger(refundAmount(request))) {
    ctx.addIssue({ code: 'custom', path: ['items'], message: 'the refund amount is too large' });
  }
}

export const RefundRequest = built('RefundRequest', () => RefundRequestFields.superRefine(checkRefundRequest));
export type RefundRequest = z.infer<typeof RefundRequest>;

/** The refund's amount: the sum of quantity × unitAmount, in minor units. */
export function refundAmount(request: Pick<RefundRequest, 'items'>): number {
  return request.items.reduce((sum, item) => sum + item.quantity * item.unitAmount, 0);
}

export function hasCarrierReturn(r: ReturnMethod): r is z.infer<typeof CarrierReturn> {
  return r.method !== 'none';
}

export const CarrierStatus = built('CarrierStatus', () =>
  z.enum(['accepted', 'in_transit', 'out_for_delivery', 'delivered', 'exception', 'returned_to_sender']),
);
export type CarrierStatus = z.infer<typeof CarrierStatus>;

export const CarrierEvent = built('CarrierEvent', () =>
  z.strictObject({
    eventId: id('eventId'),
    carrier: id('carrier'),
    trackingNumber: id('trackingNumber'),
    status: CarrierStatus,
    occurredAt: timestamp,
    facilityId: id('facilityId').optional(),
    weightGrams: z.number().int().positive().max(1_000_000).optional(),
  }),
);
export type CarrierEvent = z.infer<typeof CarrierEvent>;

export const ItemCondition = built('ItemCondition', () => z.enum(['new', 'used', 'damaged', 'wrong_item', 'empty_box']));
export type ItemCondition = z.infer<typeof ItemCondition>;

export const WarehouseReceipt = built('WarehouseReceipt', () =>
  z.strictObject({
    eventId: id('eventId'),
    warehouseId: id('warehouseId'),
    items: z
      .array(
        z.strictObject({
          sku: id('sku'),
          serialNumber: id('serialNumber').optional(),
          condition: ItemCondition,
        }),
      )
      .min(1, 'items must list what was in the parcel (use condition "empty_box" for an empty parcel)')
      .max(1000),
    weightGrams: z.number().int().nonnegative().max(1_000_000),
    scannedAt: timestamp,
  }),
);
export type WarehouseReceipt = z.infer<typeof WarehouseReceipt>;

/** A receipt scan as the workflow receives it: the scan plus who scanned it. */
export const WarehouseScan = built('WarehouseScan', () =>
  z.strictObject({
    receipt: WarehouseReceipt,
    scannedBy: principalId('scannedBy'),
  }),
);
export type WarehouseScan = z.infer<typeof WarehouseScan>;

export const Role = built('Role', () => z.enum(['refund_service', 'warehouse', 'approver', 'ops', 'admin']));
export type Role = z.infer<typeof Role>;

/** Who acts. The API derives this from the authenticated principal, never from the request body. */
export const Approver = built('Approver', () =>
  z.strictObject({
    approverId: principalId('approverId'),
    roles: z.array(Role).min(1),
    /** The largest refund, in the refund's minor units, this approver may approve. */
    approvalLimit: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
);
export type Approver = z.infer<typeof Approver>;

export const ApprovalDecision = built('ApprovalDecision', () =>
  z.strictObject({
    decision: z.enum(['approve', 'reject']),
    reason: text('reason', 500).optional(),
  }),
);
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

export const ApprovalCommand = built('ApprovalCommand', () =>
  z.strictObject({
    approver: Approver,
    decision: ApprovalDecision,
  }),
);
export type ApprovalCommand = z.infer<typeof ApprovalCommand>;

/** An admin lifts an employee's circuit breaker. `liftedBy` and `roles` are the authenticated principal. */
export const BreakerLift = built('BreakerLift', () =>
  z.strictObject({
    employeeId: principalId('employeeId'),
    liftedBy: principalId('liftedBy'),
    roles: z.array(Role).min(1),
    reason: text('reason', 500),
  }),
);
export type BreakerLift = z.infer<typeof BreakerLift>;

export const CancelCommand = built('CancelCommand', () =>
  z.strictObject({
    cancelledBy: principalId('cancelledBy'),
    reason: text('reason', 500),
  }),
);
export type CancelCommand = z.infer<typeof CancelCommand>;

/** An issue as text: its dotted path (`items.0.unitAmount`, or '' for the whole value) and message. */
export interface IssueText {
  path: string;
  message: string;
}

/** How issues are joined (default '; '), and what names an issue about the whole value (default '(body)'). */
export interface IssueFormat {
  root?: string;
  separator?: string;
}

/** Issues as `path: message`, joined: the one format for validation errors, wherever they are shown. */
export function describeIssueList(issues: readonly IssueText[], { root = '(body)', separator = '; ' }: IssueFormat = {}): string {
  return issues.map((i) => `${i.path || root}: ${i.message}`).join(separator);
}

/** A readable one-line summary of a zod error: `items.0.unitAmount: must be an integer …; currency: …`. */
export function describeIssues(error: z.ZodError, format?: IssueFormat): string {
  return describeIssueList(
    error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    format,
  );
}

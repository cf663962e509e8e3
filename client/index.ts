export * from './errors';
export { RefundsClient, type RefundRequested, type RefundsClientOptions } from './refunds-client';
export type { RefundStatus } from '../workflows/messages';
export type { RefundRow, StuckQuery } from '../activities/read-model';
export type { AuditVerification, AuditRow } from '../activities/audit-trail';
export { BreakerLiftError, type Breaker, type OpsAlert } from '../activities/breakers';
export * from '../workflows/schemas';

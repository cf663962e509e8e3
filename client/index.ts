/** What callers import: the typed HTTP client, its errors, the response views and the message schemas. */
export * from './errors';
export { RefundApiError, RefundsApiClient, type RefundsApiClientOptions, type SigningKey } from './refunds-api-client';
export { CARRIER_SIGNATURE_HEADER, type CarrierKey, type CarrierSigningKey, signCarrierPayload } from './carrier-signature';
export type { AuditVerification, Breaker, OpsAlert, Problem, RefundView, StuckRefund } from './views';
export * from '../workflows/schemas';
export type { RegistryEntryView, RegistryView, RevocationStored, StoredEntryView } from './registry-views';

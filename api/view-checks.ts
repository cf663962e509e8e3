/**
 * Compile-time checks that the HTTP views (client/views.ts), which callers import, carry exactly
 * the fields of the service's own types: a field added to one and not the other fails to compile.
 */
import type { z } from 'zod';
import type { AuditFindingView, AuditVerificationView, BreakerView, CarrierEventAccepted, OpsAlertView, RefundView } from '../client/views';
import type { AuditFinding, AuditVerification } from '../store/audit-trail';
import type { Breaker, OpsAlert } from '../store/breakers';
import type { CarrierEventReceipt } from './refunds-service';
import type { RefundStatus } from '../workflows/messages';
import type { RecordedApproval } from '../workflows/refund-model';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
/** One object type from an intersection, so it compares equal to the same fields written out. */
type Flat<T> = { [K in keyof T]: T[K] };
export type ViewChecks = [
  Assert<Equal<keyof RefundStatus | 'timeline', keyof z.infer<typeof RefundView>>>,
  Assert<RefundStatus extends Omit<z.input<typeof RefundView>, 'timeline'> ? true : false>,
  Assert<Equal<keyof AuditVerification, keyof z.infer<typeof AuditVerificationView>>>,
  Assert<Equal<AuditFinding, z.infer<typeof AuditFindingView>>>,
  Assert<Equal<AuditVerification['checkpoints'], z.infer<typeof AuditVerificationView>['checkpoints']>>,
  Assert<Equal<Flat<NonNullable<RefundStatus['risk']>>, NonNullable<z.infer<typeof RefundView>['risk']>>>,
  Assert<Equal<RecordedApproval, z.infer<typeof RefundView>['approvals'][number]>>,
  Assert<Equal<Breaker, z.infer<typeof BreakerView>>>,
  Assert<Equal<OpsAlert, z.infer<typeof OpsAlertView>>>,
  Assert<Equal<CarrierEventReceipt, z.infer<typeof CarrierEventAccepted>>>,
];

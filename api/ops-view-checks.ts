/** Compile-time checks that the listing, inbox and summary views carry exactly the service's fields. */
import type { z } from 'zod';
import type { ApprovalsInbox, InboxItem, RefundListItem, StuckSummary } from '../client/ops-views';
import type { ApprovalsInbox as Inbox, InboxItem as Item, RefundListEntry, StuckSummary as Summary } from './operations-service';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type OpsViewChecks = [
  Assert<Equal<keyof RefundListEntry, keyof z.infer<typeof RefundListItem>>>,
  Assert<Equal<keyof Item, keyof z.infer<typeof InboxItem>>>,
  Assert<Equal<keyof Inbox, keyof z.infer<typeof ApprovalsInbox>>>,
  Assert<Equal<keyof Summary, keyof z.infer<typeof StuckSummary>>>,
  Assert<Item extends z.input<typeof InboxItem> ? true : false>,
];

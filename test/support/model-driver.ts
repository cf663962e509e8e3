/** Drives the pure refund state machine in tests, on a fixed clock. */
import { applyEvent, type RefundEvent, type RefundModel } from '../../workflows/refund-model';

export const T0 = '2026-11-01T10:00:00.000Z';

/** T0 plus `seconds`, as an ISO timestamp. */
export const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

/** Applies events in order and returns the resulting model. */
export const drive = (model: RefundModel, ...events: RefundEvent[]): RefundModel => events.reduce((m, e) => applyEvent(m, e).model, model);

/**
 * The carrier event sweep: every few seconds the API process delivers stored carrier events whose
 * refund now exists (the refund's first row came late, or a process died between storing an event
 * and signalling it), and reports the ones that stayed undelivered past the return window.
 */
import type { RefundsService } from './refunds-service';

export interface CarrierEventSweepOptions {
  intervalMs: number;
  /** Most events handled in one round. */
  batchSize: number;
}

export interface SweepLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface RunningSweep {
  /** Runs one round now (and waits for a round in progress first); for tests and shutdown. */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
}

async function sweepOnce(refunds: RefundsService, batchSize: number, log: SweepLogger): Promise<void> {
  const { delivered, expired, failures } = await refunds.deliverPendingCarrierEvents(batchSize);
  if (delivered.length > 0) {
    log.info(
      { events: delivered.map((e) => ({ carrier: e.carrier, eventId: e.eventId, refundIds: e.deliveredTo })) },
      'carrier events delivered',
    );
  }
  for (const e of expired) {
    log.warn(
      { carrier: e.carrier, eventId: e.eventId, trackingNumber: e.trackingNumber, receivedAt: e.receivedAt },
      'carrier event expired: no refund claimed its parcel within the return window; it is listed under GET /v1/ops/carrier-events?status=pending',
    );
  }
  for (const f of failures) {
    log.error(
      { carrier: f.event.carrier, eventId: f.event.eventId, refundId: f.refundId, err: f.error },
      'carrier event delivery failed; retried next round',
    );
  }
}

/** Starts sweeping every `intervalMs`; a round never overlaps the previous one. */
export function startCarrierEventSweep(refunds: RefundsService, options: CarrierEventSweepOptions, log: SweepLogger): RunningSweep {
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const round = () => {
    current = current
      .then(() => sweepOnce(refunds, options.batchSize, log))
      .catch((error: unknown) => log.error({ err: error }, 'carrier event sweep failed; retried next round'));
    return current;
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      void round().then(() => {
        if (!stopped) schedule();
      });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    runOnce: round,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

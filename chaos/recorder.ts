/**
 * What the run observes, with timestamps on one clock (performance.now()): every HTTP request the
 * typed client sends (each attempt, its duration and answer), every wait of a refund for its next
 * state, the refunds seen finishing, and the faults.
 */
import type { FaultKind } from './settings';

export interface HttpCall {
  method: string;
  route: string;
  /** The refund the call is about, when its path names one. */
  refundId?: string;
  startedAt: number;
  ms: number;
  /** The HTTP status, or the error when no answer came. */
  outcome: number | string;
}

export interface Wait {
  refundId: string;
  from: number;
  to: number;
  reached: boolean;
}

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  killedAt: number;
  restartedAt?: number;
  /** API /readyz 200 again, from the kill (PostgreSQL, Temporal and API faults). */
  readyAgainMs?: number;
  /** The first refund seen finishing after the kill, from the kill. */
  nextCompletionMs?: number;
  error?: string;
}

export class Recorder {
  readonly http: HttpCall[] = [];
  readonly waits: Wait[] = [];
  readonly completions: number[] = [];
  readonly faults: FaultRecord[] = [];
  readonly t0 = performance.now();
  /** Called as each fault begins, before the process is killed. */
  onFault: () => void = () => {};

  /** Times every request the process sends with the global fetch, which the typed client uses. */
  instrumentFetch(): () => void {
    const original = globalThis.fetch;
    const calls = this.http;
    globalThis.fetch = async (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      // Refund ids in the path vary per call; the route names the endpoint.
      const route = url.pathname.replace(/\/v1\/refunds\/[^/]+/, '/v1/refunds/{id}');
      const refundId = /\/v1\/refunds\/([^/]+)/.exec(url.pathname)?.[1];
      const call: HttpCall = {
        method: init?.method ?? 'GET',
        route,
        ...(refundId ? { refundId } : {}),
        startedAt: performance.now(),
        ms: 0,
        outcome: 'pending',
      };
      calls.push(call);
      try {
        const response = await original(input, init);
        const body = await response.arrayBuffer();
        call.ms = performance.now() - call.startedAt;
        call.outcome = response.status;
        // These statuses may not carry a body, even an empty one.
        const nullBody = [101, 204, 205, 304].includes(response.status);
        return new Response(nullBody ? null : body, {
          status: response.status,
          statusText: response.statusText,
          headers: response.headers,
        });
      } catch (error) {
        call.ms = performance.now() - call.startedAt;
        call.outcome =
          error instanceof Error ? `${error.name}: ${(error.cause as Error | undefined)?.message ?? error.message}` : String(error);
        throw error;
      }
    };
    return () => {
      globalThis.fetch = original;
    };
  }

  completed(at = performance.now()): void {
    this.completions.push(at);
  }

  /** Seconds since the run began, for log lines. */
  elapsed(): string {
    return ((performance.now() - this.t0) / 1000).toFixed(1);
  }
}

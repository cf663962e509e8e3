/**
 * The seeded fault schedule and its injection: each fault kills one process with SIGKILL (a
 * worker, PostgreSQL, the Temporal dev server or the API), keeps it down for a short pause and
 * starts it again, then measures how the service recovers. Faults come one at a time, each when
 * the driver has started its share of the refunds, so a run's faults land at the same points of
 * its workload whatever the machine's speed.
 */
import type { Restartable } from './children';
import type { FaultRecord, Recorder } from './recorder';
import { type ChaosSettings, type FaultKind, faultKinds, seededRandom } from './settings';
import { readyz, type ChaosStack } from './stack';

export interface ScheduledFault {
  kind: FaultKind;
  /** Which worker, for a worker fault. */
  worker: number;
  /** Fires once the driver has started this many refunds. */
  afterStarted: number;
}

export function scheduleFaults(settings: ChaosSettings): ScheduledFault[] {
  const random = seededRandom(settings.seed ^ 0x5eed);
  const kinds = faultKinds.flatMap((kind) => Array.from({ length: settings.faultsPerKind }, () => kind));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  // After the first lanes are busy and over the first 85% of the refunds, so every fault meets refunds in flight.
  const first = Math.min(settings.concurrency, Math.floor(settings.refunds / 4));
  const span = (settings.refunds - first) * 0.85;
  return kinds.map((kind, i) => ({
    kind,
    worker: Math.floor(random() * 2),
    afterStarted: first + Math.max(1, Math.round((span * (i + 0.5 + (random() - 0.5) * 0.5)) / kinds.length)),
  }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function targetOf(stack: ChaosStack, fault: ScheduledFault): Restartable {
  switch (fault.kind) {
    case 'worker':
      return stack.workers[fault.worker]!;
    case 'postgres':
      return stack.postgres;
    case 'temporal':
      return stack.temporal;
    case 'api':
      return stack.api;
  }
}

/** Resolves with the ms from `since` until `check` first holds, or undefined once `boundMs` has passed. */
async function timeUntil(check: () => Promise<boolean> | boolean, since: number, boundMs: number): Promise<number | undefined> {
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return performance.now() - since;
    if (performance.now() - since > boundMs) return undefined;
    await sleep(100);
  }
}

export interface FaultRunner {
  /** Runs the schedule; resolves when every fault has been injected and measured, or `stopped()` says so. */
  run(started: () => number, stopped: () => boolean): Promise<void>;
}

export function faultRunner(stack: ChaosStack, settings: ChaosSettings, recorder: Recorder, log: (line: string) => void): FaultRunner {
  const inject = async (fault: ScheduledFault) => {
    const target = targetOf(stack, fault);
    const record: FaultRecord = { kind: fault.kind, target: target.name, killedAt: performance.now() };
    recorder.faults.push(record);
    recorder.onFault();
    log(`[${recorder.elapsed()} s] fault: SIGKILL ${target.name} (pid ${target.pid()})`);
    try {
      await target.kill();
      await sleep(settings.downMs);
      await target.start();
      record.restartedAt = performance.now();
      const bound = 180_000;
      const [ready, completion] = await Promise.all([
        fault.kind === 'worker' ? undefined : timeUntil(() => readyz(stack.apiUrl), record.killedAt, bound),
        timeUntil(() => recorder.completions.some((at) => at > record.killedAt), record.killedAt, bound),
      ]);
      if (ready !== undefined) record.readyAgainMs = Math.round(ready);
      if (completion !== undefined) record.nextCompletionMs = Math.round(completion);
      log(
        `[${recorder.elapsed()} s] ${target.name} back; ready again ${ready?.toFixed(0) ?? '-'} ms, next refund finished ${completion?.toFixed(0) ?? '-'} ms after the kill`,
      );
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
      log(`[${recorder.elapsed()} s] fault on ${target.name} failed: ${record.error}`);
    }
  };
  return {
    async run(started, stopped) {
      for (const fault of scheduleFaults(settings)) {
        while (started() < fault.afterStarted && !stopped()) await sleep(100);
        if (stopped()) return;
        await inject(fault);
      }
    },
  };
}

/**
 * `npm run chaos`: builds its own stack (chaos/stack.ts), drives CHAOS_REFUNDS refunds through the
 * HTTP API while a seeded schedule SIGKILLs a worker, PostgreSQL, the Temporal dev server and the
 * API and restarts each, waits for the refunds to settle, checks the invariants, writes
 * latest.json and latest.md, and exits 1 if any invariant fails. Stops its processes and removes
 * its temporary directory on exit, Ctrl-C included. docs/testing.md, "Chaos", explains it.
 */
import { defaultApiLimits } from '../config/api';
import { type DrivenRefund, RefundDriver } from './driver';
import { faultRunner, scheduleFaults } from './faults';
import type { InvariantResult } from './invariant-result';
import { checkInvariants, outcomeCounts, untilSettled } from './invariants';
import { planRefunds, type RefundPlan } from './plan';
import { type ChaosClients, createChaosClients } from './principals';
import { Recorder } from './recorder';
import { type ChaosReport, faultsOf, requestFigures, writeReport } from './report';
import { type ChaosSettings, loadSettings, seededRandom } from './settings';
import { type ChaosStack, startChaosStack } from './stack';

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Seconds kept back at the end of CHAOS_MAX_SECONDS for settling, the checks and the report. */
const RESERVE_MS = 90_000;

interface DrivePhase {
  plans: RefundPlan[];
  driven: DrivenRefund[];
}

async function drive(
  stack: ChaosStack,
  clients: ChaosClients,
  settings: ChaosSettings,
  recorder: Recorder,
  runId: string,
  deadline: number,
) {
  const plans = planRefunds(settings.refunds, settings.seed, runId, 50);
  const pick = seededRandom(settings.seed ^ 0xa99);
  const driver = new RefundDriver({ clients, recorder, stepBoundMs: 180_000, deadline, pick: (n) => Math.floor(pick() * n) });
  const schedule = scheduleFaults(settings);
  let startedCount = 0;
  let faultsBegun = 0;
  let done = false;
  const faults = faultRunner(stack, settings, recorder, log);
  const faulting = faults
    .run(
      () => startedCount,
      () => done || performance.now() > deadline,
    )
    .finally(() => {
      faultsBegun = schedule.length;
    });
  recorder.onFault = () => faultsBegun++;
  const driven: DrivenRefund[] = [];
  const lane = async () => {
    while (startedCount < plans.length && performance.now() < deadline) {
      // A fault due at this refund goes in first, so every fault meets refunds in flight.
      const due = schedule.filter((f) => f.afterStarted <= startedCount).length;
      if (faultsBegun < due) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const plan = plans[startedCount++]!;
      driven.push(await driver.drive(plan));
      if (driven.length % 25 === 0) log(`[${recorder.elapsed()} s] ${driven.length}/${plans.length} refunds driven`);
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, lane));
  done = true;
  await faulting;
  return { plans, driven } satisfies DrivePhase;
}

function processInvariants(stack: ChaosStack, settings: ChaosSettings, recorder: Recorder): InvariantResult[] {
  const expected = scheduleFaults(settings).length;
  const failed = recorder.faults.filter((f) => f.error || f.restartedAt === undefined);
  const exits = [stack.temporal, stack.postgres, ...stack.workers, stack.api].flatMap((p) => p.unexpectedExits);
  return [
    {
      name: 'every scheduled fault was injected and its process came back',
      ok: recorder.faults.length === expected && failed.length === 0,
      detail: `${recorder.faults.length} of ${expected} injected${failed.length ? `; failed: ${failed.map((f) => `${f.target}: ${f.error}`).join('; ')}` : ''}`,
    },
    {
      name: 'no process of the product exited on its own',
      ok: exits.length === 0,
      detail: exits.length ? exits.map((e) => `${e.split(':')[0]}: …${e.slice(-500)}`).join(' / ') : 'none',
    },
  ];
}

/** The last requests about a refund, for the report's account of why the driver gave up on it. */
function lastCalls(recorder: Recorder, refundId: string): string {
  const calls = recorder.http.filter((c) => c.refundId === refundId).slice(-3);
  return `last requests: ${calls.map((c) => `${c.method} ${c.route} ${c.outcome} after ${Math.round(c.ms)} ms`).join(', ')}`;
}

function commandLine(): string {
  const vars = Object.entries(process.env)
    .filter(([name]) => name.startsWith('CHAOS_') && name !== 'CHAOS_OUT_DIR' && name !== 'CHAOS_KEEP')
    .map(([name, value]) => `${name}=${value}`)
    .sort();
  return [...vars, 'npm run chaos'].join(' ');
}

async function runChaos(
  settings: ChaosSettings,
  stack: ChaosStack,
  recorder: Recorder,
  startedAt: Date,
  deadline: number,
): Promise<ChaosReport> {
  const clients = await createChaosClients(stack, { scanners: 20, approvers: 40 });
  const runId = `${settings.seed}-${Date.now().toString(36)}`;
  const restoreFetch = recorder.instrumentFetch();
  const { plans, driven } = await drive(stack, clients, settings, recorder, runId, deadline).finally(restoreFetch);
  log(`[${recorder.elapsed()} s] driving done; waiting for the refunds to settle`);
  await untilSettled(stack.adminDatabaseUrl, runId, 60_000);
  const invariants = [
    ...(await checkInvariants({
      ...stack,
      runId,
      ops: clients.ops,
      plans,
      driven,
      recorder,
      handlerTimeoutMs: defaultApiLimits.handlerTimeoutMs,
    })),
    ...processInvariants(stack, settings, recorder),
  ];
  const { outDir: _, keep: __, ...shown } = settings;
  return {
    command: commandLine(),
    settings: shown,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((performance.now() - recorder.t0) / 1000),
    ok: invariants.every((i) => i.ok),
    refunds: {
      planned: plans.length,
      byOutcome: await outcomeCounts(stack.adminDatabaseUrl, runId),
      gaveUp: driven.filter((d) => d.gaveUp).length,
      gaveUpDetails: driven
        .flatMap((d) => (d.gaveUp ? [`${d.refundId} (then ${d.lastState}): ${d.gaveUp}; ${lastCalls(recorder, d.refundId)}`] : []))
        .slice(0, 20),
      refusals: driven.flatMap((d) => d.refusals.map((r) => `${d.refundId}: ${r}`)).slice(0, 20),
    },
    faults: faultsOf(recorder),
    invariants,
    requests: requestFigures(recorder),
  };
}

async function main(): Promise<number> {
  const settings = loadSettings();
  const recorder = new Recorder();
  const startedAt = new Date();
  const deadline = recorder.t0 + settings.maxSeconds * 1000 - RESERVE_MS;
  let stack: ChaosStack | undefined;
  let stopping: Promise<void> | undefined;
  const cleanup = () => (stopping ??= stack ? stack.stop() : Promise.resolve());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the chaos stack`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  // The last resort if something hangs past the bound: stop everything and fail.
  setTimeout(() => {
    log(`CHAOS_MAX_SECONDS (${settings.maxSeconds}) passed: stopping`);
    void cleanup().finally(() => process.exit(2));
  }, settings.maxSeconds * 1000).unref();
  try {
    log(
      `chaos: ${settings.refunds} refunds, seed ${settings.seed}, ${settings.faultsPerKind} fault(s) of each kind, at most ${settings.maxSeconds} s`,
    );
    stack = await startChaosStack(log, settings.keep);
    const report = await runChaos(settings, stack, recorder, startedAt, deadline);
    const files = await writeReport(report, settings.outDir);
    for (const i of report.invariants) log(`${i.ok ? 'ok  ' : 'FAIL'} ${i.name}: ${i.detail}`);
    log(`report: ${files.join(', ')}`);
    return report.ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);

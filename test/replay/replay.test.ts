/**
 * Replay: refunds live for weeks, so a workflow change must replay every history already
 * recorded. Histories of refunds that went through each path are kept in test/replay/histories/ and
 * replayed against the current workflow code; a non-deterministic change fails here, not in
 * production. `RECORD_HISTORIES=1 npx vitest run test/replay/replay.test.ts` records the scenarios with
 * the current code into new files (`<scenario>.<RECORD_LABEL or today>.json`) beside the old
 * ones, which stay: refunds started under every earlier version must keep replaying.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refundWorkflowId } from '../../workflows/messages';
import { addRegistryEntry } from '../../store/registry';
import {
  canonicalBytes,
  challengeOf,
  endorseEntry,
  newNonce,
  type DecisionStatement,
  type RegistryEntry,
} from '../../workflows/statements';
import { carrierEvent, fastPolicy, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { type RecordProgressWrapper, startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { DEFAULT_LIMITS } from '../support/registry-world';
import { createSoftwareAuthenticator } from '../support/software-authenticator';
import { testStack, uniqueId } from '../support/stack';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const recording = process.env.RECORD_HISTORIES === '1';
let h: RefundHarness;

beforeAll(async () => {
  h = await startRefundHarness();
});
afterAll(async () => h?.close());

/** Paths worth keeping: each tier, stuck, expiry, cancel, rejection, out-of-order evidence. */
type Recorded = string | { refundId: string; temporal: RefundHarness['temporal']; close(): Promise<void> };

/** A scenario on a harness of its own (another policy, a database that misbehaves), closed by the recorder, or here if it fails. */
async function onOwnHarness(
  options: Parameters<typeof startRefundHarness>[0],
  run: (harness: RefundHarness) => Promise<string>,
): Promise<Recorded> {
  const harness = await startRefundHarness(options);
  try {
    return { refundId: await run(harness), temporal: harness.temporal, close: () => harness.close() };
  } catch (error) {
    await harness.close();
    throw error;
  }
}
const scenarios: Record<string, () => Promise<Recorded>> = {
  async 'two-approvals'() {
    const request = refundRequest({
      items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
    });
    await h.refunds.requestRefund(request);
    await h.scan(request.refundId, matchingReceipt(request, { scannedAt: new Date(Date.now() + 1000).toISOString() }), 'emp-scan-1');
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await h.carrierEvent(carrierEvent(request, 'in_transit'));
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-a'));
    await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-b'));
    await h.refunds.waitForState(request.refundId, ['refunded']);
    return request.refundId;
  },
  // One Ed25519 approval and one signed with a passkey, after a passkey decision refused for a changed statement.
  async 'passkey-approval'() {
    const request = refundOf(150_000);
    await h.refunds.requestRefund(request);
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-a'));
    const authenticator = createSoftwareAuthenticator({ rpId: 'localhost', origin: 'http://localhost:3000' });
    const approverId = uniqueId('emp-passkey');
    const entry: RegistryEntry = {
      kind: 'registry_entry',
      principalId: approverId,
      version: 1,
      roles: ['approver'],
      approvalLimits: DEFAULT_LIMITS,
      keys: [
        {
          keyId: 'passkey-1',
          alg: 'webauthn-es256',
          publicKey: authenticator.publicKey,
          credentialId: authenticator.credentialId,
          rpId: authenticator.rpId,
          origin: authenticator.origin,
        },
      ],
      status: 'active',
      issuedAt: new Date(Date.now() - 1_000).toISOString(),
    };
    await addRegistryEntry(h.pool, { entry, endorsements: h.registry.admins.slice(0, 2).map((admin) => endorseEntry(entry, admin)) });
    const statement: DecisionStatement = {
      kind: 'decision',
      refundId: request.refundId,
      amount: 150_000,
      currency: request.currency,
      decision: 'approve',
      reason: 'serial matches',
      approverId,
      keyId: 'passkey-1',
      alg: 'webauthn-es256',
      signedAt: new Date().toISOString(),
      nonce: newNonce(),
    };
    const assertion = authenticator.assert(challengeOf(canonicalBytes(statement)));
    await expect(h.refunds.decide(request.refundId, { statement: { ...statement, reason: 'changed' }, assertion })).rejects.toThrow(
      /challenge/,
    );
    await h.refunds.decide(request.refundId, { statement, assertion });
    await h.refunds.waitForState(request.refundId, ['refunded']);
    return request.refundId;
  },
  async 'stuck-then-paid'() {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await new Promise((r) => setTimeout(r, 2_500));
    await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
    await h.refunds.waitForState(request.refundId, ['refunded']);
    return request.refundId;
  },
  async expired() {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['expired'], 15_000);
    return request.refundId;
  },
  async 'paid-on-carrier-acceptance'() {
    const policy = {
      ...fastPolicy,
      version: 'replay-acceptance',
      refundTiming: 'on_carrier_acceptance',
      amounts: { ...fastPolicy.amounts, carrierAcceptanceMax: '50.00' },
    } as const;
    return onOwnHarness({ policy }, async (acceptance) => {
      const request = refundOf(3_000);
      await acceptance.refunds.requestRefund(request);
      await acceptance.carrierEvent(carrierEvent(request, 'accepted'));
      await acceptance.refunds.waitForState(request.refundId, ['refunded']);
      return request.refundId;
    });
  },
  // The decision's write outlasts the workflow task's heartbeat (80% of its 10 s timeout), so the
  // workflow task completes while the decision waits for it: a refund started before revision 2
  // has that wait's 30 s timer in its history (see workflows/revision.ts).
  async 'decision-during-slow-write'() {
    const recordProgress: RecordProgressWrapper = async (input, write) => {
      if (input.facts.some((fact) => fact.kind === 'approved')) await new Promise((r) => setTimeout(r, 9_000));
      return write(input);
    };
    return onOwnHarness({ recordProgress }, async (slow) => {
      const request = refundOf(15_000);
      await slow.refunds.requestRefund(request);
      await slow.carrierEvent(carrierEvent(request, 'delivered'));
      await slow.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
      await slow.refunds.waitForState(request.refundId, ['awaiting_approval']);
      await slow.refunds.decide(request.refundId, await slow.registry.approval(request, 'emp-a'));
      await slow.refunds.waitForState(request.refundId, ['refunded']);
      return request.refundId;
    });
  },
  // The write into risk_review is refused until it gives up (WRITE_BOUND), then taken: from
  // revision 3 the refund sets its search attributes when the write gives up.
  async 'risk-write-gave-up'() {
    let refusing = true;
    const recordProgress: RecordProgressWrapper = async (input, write) => {
      const entersRiskReview = input.facts.some((f) => f.kind === 'state_changed' && (f.data as { to?: unknown }).to === 'risk_review');
      if (refusing && entersRiskReview) throw new Error('connection terminated unexpectedly');
      return write(input);
    };
    return onOwnHarness({ recordProgress }, async (stalled) => {
      const request = refundOf(15_000);
      await stalled.refunds.requestRefund(request);
      await stalled.carrierEvent(carrierEvent(request, 'delivered'));
      await stalled.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
      const handle = stalled.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
      await vi.waitFor(
        async () => {
          // The give-up: a local activity marker failed with a timeout (not a retry's backoff).
          const events = (await handle.fetchHistory()).events ?? [];
          const failures = events.flatMap((e) =>
            e.markerRecordedEventAttributes?.failure ? [e.markerRecordedEventAttributes.failure] : [],
          );
          expect(failures.some((f) => f.timeoutFailureInfo ?? f.cause?.timeoutFailureInfo)).toBe(true);
        },
        { timeout: 90_000, interval: 1_000 },
      );
      refusing = false;
      await stalled.refunds.waitForState(request.refundId, ['awaiting_approval']);
      await stalled.refunds.decide(request.refundId, await stalled.registry.approval(request, 'emp-a'));
      await stalled.refunds.waitForState(request.refundId, ['refunded']);
      return request.refundId;
    });
  },
  async 'cancelled-and-rejected'() {
    const request = refundOf(15_000, { return: { method: 'none' } });
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    await h.refunds.decide(
      request.refundId,
      await h.registry.approval(request, 'emp-a', { decision: 'reject', reason: 'no return, no refund' }),
    );
    await h.refunds.waitForState(request.refundId, ['rejected']);
    return request.refundId;
  },
};

describe('replay of recorded refund histories', () => {
  it.runIf(recording)(
    'records a history for every scenario',
    async () => {
      mkdirSync(historiesDir, { recursive: true });
      const label = process.env.RECORD_LABEL ?? new Date().toISOString().slice(0, 10);
      for (const [name, run] of Object.entries(scenarios)) {
        const file = `${historiesDir}${name}.${label}.json`;
        if (existsSync(file)) continue;
        const recorded = await run();
        const { refundId, temporal } = typeof recorded === 'string' ? { refundId: recorded, temporal: h.temporal } : recorded;
        const history = await temporal.workflow.getHandle(refundWorkflowId(refundId)).fetchHistory();
        writeFileSync(file, historyToJSON(history));
        if (typeof recorded !== 'string') await recorded.close();
      }
    },
    600_000,
  );

  const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(Object.keys(scenarios).length);
  });

  // Replayed under its own workflow id: the workflow holds its request to the refund id in it.
  it.each(files)('replays %s deterministically', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(`${historiesDir}${file}`, 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: { codePath: testStack().workflowBundlePath } }, history, workflowIdOf(history));
  });

  it('replays a refund recorded just now', async () => {
    const refundId = (await scenarios['two-approvals']!()) as string;
    const history = await h.temporal.workflow.getHandle(refundWorkflowId(refundId)).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: testStack().workflowBundlePath } }, history, refundWorkflowId(refundId));
  });
});

/** The workflow id a recorded history ran under, from the refund id in its start input (a signed request, or an older bare one). */
function workflowIdOf(history: ReturnType<typeof historyFromJSON>): string {
  const data = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) throw new Error('the history does not start with its input');
  const input = JSON.parse(Buffer.from(data).toString('utf8')) as { refundId?: string; statement?: { request?: { refundId?: string } } };
  const refundId = input.statement?.request?.refundId ?? input.refundId;
  if (!refundId) throw new Error("the history's input names no refund id");
  return refundWorkflowId(refundId);
}

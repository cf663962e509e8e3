/**
 * The refund request verifier (workflows/request-verifier.ts) and the refused refund it leads to
 * (refusedRefund), pure: registry records are handed in as the lookupPrincipal local activity
 * would return them. Keys come from fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../workflows/policy';
import { applyEvent, checkApproval, refusedRefund } from '../../workflows/refund-model';
import { verifyRequest, type RequestCheck } from '../../workflows/request-verifier';
import { RefundRequest, type Role } from '../../workflows/schemas';
import {
  endorseEntry,
  generateKeyPair,
  type RegistryEntry,
  type RegistryRecords,
  signStatement,
  statementId,
  TrustRoots,
} from '../../workflows/statements';
import { approver, carrierEvent, refundOf } from '../support/fixtures';

const seed = (n: number) => new Uint8Array(32).fill(n);
const ada = { adminId: 'ada', keyId: 'ada.k1', secretKey: generateKeyPair('ada.k1', seed(1)).secretKey };
const bob = { adminId: 'bob', keyId: 'bob.k1', secretKey: generateKeyPair('bob.k1', seed(2)).secretKey };
const roots = TrustRoots.parse({
  admins: [
    { adminId: 'ada', ...generateKeyPair('ada.k1', seed(1)).publicKey },
    { adminId: 'bob', ...generateKeyPair('bob.k1', seed(2)).publicKey },
  ],
});
const serviceKey = generateKeyPair('svc-returns.k1', seed(10));
const NOW = new Date('2026-06-01T12:00:00Z');
const T0 = '2026-06-01T12:00:00.000Z';

function entry(principalId: string, roles: Role[], endorsedBy = [ada, bob]): RegistryRecords {
  const registered: RegistryEntry = {
    kind: 'registry_entry',
    principalId,
    version: 1,
    roles,
    approvalLimits: {},
    keys: [serviceKey.publicKey],
    status: 'active',
    issuedAt: '2026-05-01T00:00:00Z',
  };
  return { entries: [{ entry: registered, endorsements: endorsedBy.map((admin) => endorseEntry(registered, admin)) }], revocations: [] };
}

const request = RefundRequest.parse(refundOf(45_000, { refundId: 'r-7', initiatedBy: 'emp-agent-1' }));
const signed = (requestedBy = 'svc-returns') =>
  signStatement(
    {
      kind: 'refund_request',
      request,
      requestedBy,
      keyId: 'svc-returns.k1',
      alg: 'ed25519',
      signedAt: T0,
      nonce: 'nonce-nonce-nonce-1',
    },
    serviceKey.secretKey,
  );

/** A check for refund r-7 whose registry holds `records` for any principal; `looked` lists who was looked up. */
function checkWith(records: RegistryRecords, refundId = 'r-7'): RequestCheck & { looked: string[] } {
  const looked: string[] = [];
  return {
    refundId,
    trustRoots: roots,
    now: NOW,
    looked,
    lookupPrincipal: async (id) => {
      looked.push(id);
      return records;
    },
  };
}

describe('verifyRequest', () => {
  it('believes a request a registered refund service signed for this refund, with the signer as requestedBy', async () => {
    const raw = signed('SVC-Returns');
    const verdict = await verifyRequest(raw, checkWith(entry('svc-returns', ['refund_service'])));
    expect(verdict).toEqual({
      ok: true,
      origin: { requestedBy: 'svc-returns', statement: { statementId: statementId(raw), keyId: 'svc-returns.k1', registryVersion: 1 } },
      facts: [],
    });
  });

  it.each([
    ['an unsigned request', () => request, 'malformed_statement', undefined],
    ['a statement without its signature', () => ({ statement: signed().statement }), 'malformed_statement', 'svc-returns'],
    ['a request altered after signing', () => alter({ initiatedBy: 'emp-accomplice' }), 'bad_signature', 'svc-returns'],
  ])('refuses %s, auditing the rule', async (_what, raw, rule, claimedSigner) => {
    const check = checkWith(entry('svc-returns', ['refund_service']));
    const verdict = await verifyRequest(raw(), check);
    expect(verdict).toMatchObject({ ok: false, refusal: { rule } });
    expect(verdict.facts).toEqual([
      {
        kind: 'statement_rejected',
        actor: 'system',
        data: expect.objectContaining({ statement: 'refund_request', rule, ...(claimedSigner ? { claimedSigner } : {}) }),
      },
    ]);
    // A malformed statement is refused without a registry look-up.
    expect(check.looked).toEqual(rule === 'malformed_statement' ? [] : ['svc-returns']);
  });

  it('refuses a statement for another refund than the workflow’s own', async () => {
    const verdict = await verifyRequest(signed(), checkWith(entry('svc-returns', ['refund_service']), 'r-8'));
    expect(verdict).toMatchObject({ ok: false, refusal: { rule: 'wrong_refund', message: expect.stringContaining('r-8') } });
  });

  it('refuses a signer without the refund_service role, and one whose entry only one admin endorsed (auditing the ignored record)', async () => {
    expect(await verifyRequest(signed(), checkWith(entry('svc-returns', ['approver'])))).toMatchObject({
      ok: false,
      refusal: { rule: 'role_missing' },
    });
    const once = await verifyRequest(signed(), checkWith(entry('svc-returns', ['refund_service'], [ada])));
    expect(once).toMatchObject({ ok: false, refusal: { rule: 'entry_not_endorsed' } });
    expect(once.facts.map((fact) => fact.kind)).toEqual(['registry_records_ignored', 'statement_rejected']);
  });
});

describe('refusedRefund', () => {
  it('records the request and the refusal, and is rejected at once: no requester, nothing applies afterwards', () => {
    const refusal = { rule: 'bad_signature', message: 'the signature does not verify' };
    const { model, facts } = refusedRefund(request, defaultPolicy, T0, refusal, [
      { kind: 'statement_rejected', actor: 'system', data: { statement: 'refund_request', ...refusal } },
    ]);
    expect(model).toMatchObject({ state: 'rejected', outcome: { code: 'request_refused' } });
    expect(model.outcome?.message).toContain('(bad_signature)');
    expect(model).not.toHaveProperty('requestedBy');
    expect(facts.map((fact) => [fact.kind, fact.actor])).toEqual([
      ['refund_requested', 'system'],
      ['statement_rejected', 'system'],
      ['state_changed', 'system'],
    ]);
    expect(facts[0]!.data).toMatchObject({ request, refused: refusal });
    const after = applyEvent(model, { type: 'carrier_event', event: carrierEvent(request, 'delivered'), at: T0 });
    expect(after).toEqual({ model, facts: [] });
    expect(checkApproval(model, { approver: approver('emp-approver-1'), decision: { decision: 'approve' } })).toMatchObject({
      rule: 'not_awaiting_approval',
    });
  });
});

function alter(change: Partial<RefundRequest>) {
  const genuine = signed();
  return { ...genuine, statement: { ...genuine.statement, request: { ...genuine.statement.request, ...change } } };
}

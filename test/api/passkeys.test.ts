/**
 * Passkeys over HTTP, against the real app, PostgreSQL and workflow, with a software authenticator
 * (test/support/software-authenticator.ts) standing in for the browser: a principal registers a
 * passkey through the ceremony, which proposes its next registry entry; it counts only once two
 * trust-root admins endorsed it; then the approver's passkey-signed decision pays a refund. The
 * bad paths: registration refusals (another principal, a used or unknown challenge, a bent
 * origin, no endorsed entry), a decision by a passkey not yet endorsed, the same approver
 * deciding twice (Ed25519, then passkey), an assertion replayed for another refund or changed
 * after signing, and challenge refusals.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionChallengeView, PasskeyRegisteredView, PasskeyRegistrationOptionsView } from '../../client/passkey-views';
import { passkeyApprovalBody } from '../../client/passkey-views';
import { defaultWebAuthn } from '../../config/api';
import { addPrincipal } from '../../store/principals';
import type { RefundRequest } from '../../workflows/schemas';
import {
  canonicalBytes,
  challengeOf,
  endorseEntry,
  newNonce,
  type DecisionStatement,
  type RegistryEntry,
} from '../../workflows/statements';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import type { Admin } from '../support/registry-world';
import { createSoftwareAuthenticator, type SoftwareAuthenticator } from '../support/software-authenticator';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
let admins: Array<Admin & TestPrincipal>;
let service: TestPrincipal;
let scanner: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  admins = await Promise.all(
    api.h.registry.admins.map(async (admin) => {
      const { apiKey } = await addPrincipal(api.owner, { id: admin.adminId, roles: ['admin'] });
      return { ...admin, id: admin.adminId, apiKey };
    }),
  );
  [service, scanner] = await Promise.all([api.principal('svc-returns', ['refund_service']), api.principal('wh-scanner', ['warehouse'])]);
});
afterAll(async () => api?.close());

const json = <T = Record<string, unknown>>(response: LightMyRequestResponse) => JSON.parse(response.body) as T;

function expectProblem(response: LightMyRequestResponse, status: number, type: string, rule?: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(json(response)).toMatchObject({ type: `/problems/${type}`, ...(rule ? { rule } : {}) });
}

const newAuthenticator = () => createSoftwareAuthenticator({ rpId: defaultWebAuthn.rpId, origin: defaultWebAuthn.origin });

async function registrationOptions(who: TestPrincipal): Promise<PasskeyRegistrationOptionsView['options'] & { challenge: string }> {
  const response = await api.call('POST', `/v1/principals/${who.id}/passkeys/options`, who);
  expect(response.statusCode, response.body).toBe(200);
  return json<PasskeyRegistrationOptionsView>(response).options as PasskeyRegistrationOptionsView['options'] & { challenge: string };
}

/** Runs the registration ceremony for `who` with `authenticator`; answers the proposed entry. */
async function registerPasskey(who: TestPrincipal, authenticator: SoftwareAuthenticator): Promise<PasskeyRegisteredView> {
  const options = await registrationOptions(who);
  const response = await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, authenticator.register(options));
  expect(response.statusCode, response.body).toBe(201);
  return json<PasskeyRegisteredView>(response);
}

async function endorse(entry: RegistryEntry, admin: Admin & TestPrincipal) {
  const response = await api.call(
    'POST',
    `/v1/principals/${entry.principalId}/registry-entries/${entry.version}/endorsements`,
    admin,
    endorseEntry(entry, admin),
  );
  expect(response.statusCode, response.body).toBe(201);
}

async function challenge(refundId: string, who: TestPrincipal, body: Record<string, unknown> = { decision: 'approve' }) {
  return api.call('POST', `/v1/refunds/${refundId}/approvals/challenge`, who, body);
}

/** The decision the challenge route builds for `who`, signed by `authenticator` in the "browser". */
async function passkeyDecision(refundId: string, who: TestPrincipal, authenticator: SoftwareAuthenticator, reason = 'serial matches') {
  const response = await challenge(refundId, who, { decision: 'approve', reason });
  expect(response.statusCode, response.body).toBe(200);
  const { statement, challenge: signed, options } = json<DecisionChallengeView>(response);
  expect(options).toMatchObject({ challenge: signed, rpId: defaultWebAuthn.rpId, userVerification: 'required' });
  expect(options.allowCredentials).toEqual([expect.objectContaining({ id: authenticator.credentialId })]);
  return { statement, assertion: authenticator.assert(signed) };
}

const approve = (refundId: string, who: TestPrincipal, body: unknown) => api.call('POST', `/v1/refunds/${refundId}/approvals`, who, body);

/** A refund with clean evidence, awaiting approval (one approval for 200.00 USD, two for 1,500.00). */
async function awaitingApproval(amount = 20_000): Promise<RefundRequest> {
  const request = refundOf(amount);
  const requested = await api.call('POST', '/v1/refunds', service, request);
  expect(requested.statusCode, requested.body).toBe(201);
  expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const scan = await api.call(
    'POST',
    `/v1/refunds/${request.refundId}/warehouse-scans`,
    scanner,
    api.scanBody(scanner, request.refundId, matchingReceipt(request)),
  );
  expect(scan.statusCode, scan.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  return request;
}

/** An approver (registered with an Ed25519 key) whose passkey two admins have endorsed. */
async function approverWithPasskey(name: string) {
  const who = await api.principal(name, ['approver'], '5000.00');
  const authenticator = newAuthenticator();
  const registered = await registerPasskey(who, authenticator);
  await endorse(registered.entry, admins[0]!);
  await endorse(registered.entry, admins[1]!);
  return { who, authenticator, keyId: registered.keyId };
}

describe('registering a passkey and approving with it, end to end', () => {
  it('proposes the next entry with the passkey; it counts only after two endorsements, then its decision pays the refund', async () => {
    const who = await api.principal('emp-passkey', ['approver'], '5000.00');
    const authenticator = newAuthenticator();
    const request = await awaitingApproval();

    const registered = await registerPasskey(who, authenticator);
    expect(registered).toMatchObject({ created: true, principalId: who.id, version: 2, credentialId: authenticator.credentialId });
    expect(registered.entry.keys).toEqual([
      expect.objectContaining({ alg: 'ed25519', keyId: who.signingKey!.keyId }),
      {
        keyId: registered.keyId,
        alg: 'webauthn-es256',
        publicKey: authenticator.publicKey,
        credentialId: authenticator.credentialId,
        rpId: 'localhost',
        origin: 'http://localhost:3000',
      },
    ]);
    expect(registered.entry).toMatchObject({ roles: ['approver'], status: 'active' });

    // Not endorsed yet: no challenge is offered, and a decision signed with the passkey anyway is refused by the workflow.
    expectProblem(await challenge(request.refundId, who), 403, 'approval-refused', 'no_endorsed_passkey');
    const early: DecisionStatement = {
      kind: 'decision',
      refundId: request.refundId,
      amount: 20_000,
      currency: request.currency,
      decision: 'approve',
      approverId: who.id,
      keyId: registered.keyId,
      alg: 'webauthn-es256',
      signedAt: new Date().toISOString(),
      nonce: newNonce(),
    };
    const unendorsed = passkeyApprovalBody(early, authenticator.assert(challengeOf(canonicalBytes(early))));
    expectProblem(await approve(request.refundId, who, unendorsed), 403, 'approval-refused', 'unknown_key');
    await endorse(registered.entry, admins[0]!);
    const once = { ...early, nonce: newNonce() };
    const afterOne = passkeyApprovalBody(once, authenticator.assert(challengeOf(canonicalBytes(once))));
    expectProblem(await approve(request.refundId, who, afterOne), 403, 'approval-refused', 'unknown_key');

    await endorse(registered.entry, admins[1]!);
    const { statement, assertion } = await passkeyDecision(request.refundId, who, authenticator);
    expect(statement).toMatchObject({ refundId: request.refundId, amount: 20_000, approverId: who.id, keyId: registered.keyId });
    const approved = await approve(request.refundId, who, passkeyApprovalBody(statement, assertion));
    expect(approved.statusCode, approved.body).toBe(200);
    expect(json(approved).approvals).toEqual([
      expect.objectContaining({ approverId: who.id, decision: 'approve', reason: 'serial matches' }),
    ]);
    await api.h.refunds.waitForState(request.refundId, ['refunded']);

    const trail = await api.h.refunds.auditTrail(request.refundId);
    const approvedFact = trail.find((row) => row.kind === 'approved');
    expect(approvedFact?.data).toMatchObject({ statement: { keyId: registered.keyId, registryVersion: 2 } });
    expect(trail.filter((row) => row.kind === 'statement_rejected').map((row) => (row.data as { rule: string }).rule)).toEqual([
      'unknown_key',
      'unknown_key',
    ]);
  });

  it('refuses registrations that are not the principal’s own, reuse or invent a challenge, bend the origin, or lack an endorsed entry', async () => {
    const who = await api.principal('emp-passkey-bad', ['approver'], '5000.00');
    const other = await api.principal('emp-passkey-other', ['approver'], '5000.00');
    const authenticator = newAuthenticator();

    expectProblem(await api.call('POST', `/v1/principals/${other.id}/passkeys/options`, who), 403, 'registry-refused', 'not_self');
    const options = await registrationOptions(who);
    const response = authenticator.register(options);
    expectProblem(await api.call('POST', `/v1/principals/${other.id}/passkeys`, who, response), 403, 'registry-refused', 'not_self');
    // Another principal's challenge is not this one's.
    expectProblem(
      await api.call('POST', `/v1/principals/${other.id}/passkeys`, other, response),
      403,
      'registry-refused',
      'challenge_unknown',
    );

    const registered = await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, response);
    expect(registered.statusCode, registered.body).toBe(201);
    // The challenge is used once.
    expectProblem(await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, response), 403, 'registry-refused', 'challenge_unknown');
    const invented = authenticator.register({ challenge: 'bm90LWlzc3VlZC1ieS10aGUtc2VydmVy' });
    expectProblem(await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, invented), 403, 'registry-refused', 'challenge_unknown');

    const phished = authenticator.register(await registrationOptions(who), { origin: 'https://phish.example' });
    expectProblem(
      await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, phished),
      403,
      'registry-refused',
      'passkey_not_verified',
    );
    const otherRp = authenticator.register(await registrationOptions(who), { rpId: 'evil.example' });
    expectProblem(
      await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, otherRp),
      403,
      'registry-refused',
      'passkey_not_verified',
    );

    const malformed = await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, { ...response, type: 'password' });
    expectProblem(malformed, 422, 'invalid-input');
    expect(json(malformed).errors).toEqual([expect.objectContaining({ path: 'type' })]);

    // A principal the registry does not know yet gets nothing proposed.
    const strangerId = uniqueId('emp-unregistered');
    const { apiKey } = await addPrincipal(api.owner, { id: strangerId, roles: ['approver'], approvalLimit: '10.00' });
    const stranger = { id: strangerId, apiKey };
    const strangerResponse = newAuthenticator().register(await registrationOptions(stranger));
    expectProblem(
      await api.call('POST', `/v1/principals/${stranger.id}/passkeys`, stranger, strangerResponse),
      403,
      'registry-refused',
      'no_current_entry',
    );
  });
});

describe('passkey decisions under the refund’s rules', () => {
  it('refuses the same approver deciding twice, first with Ed25519 and then with a passkey', async () => {
    const { who, authenticator } = await approverWithPasskey('emp-passkey-twice');
    const request = await awaitingApproval(150_000);
    const first = await approve(request.refundId, who, api.decisionBody(who, request));
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ approvalsStillNeeded: 1 });
    const { statement, assertion } = await passkeyDecision(request.refundId, who, authenticator);
    expectProblem(
      await approve(request.refundId, who, passkeyApprovalBody(statement, assertion)),
      403,
      'approval-refused',
      'approver_already_decided',
    );
  });

  it('refuses an assertion replayed for another refund, or with its statement changed after signing', async () => {
    const { who, authenticator } = await approverWithPasskey('emp-passkey-replay');
    const [a, b] = await Promise.all([awaitingApproval(), awaitingApproval()]);
    const { statement, assertion } = await passkeyDecision(a.refundId, who, authenticator);
    const body = passkeyApprovalBody(statement, assertion);
    // The API rebuilds the statement for refund b: it is not what the passkey signed.
    expectProblem(await approve(b.refundId, who, body), 403, 'approval-refused', 'challenge_mismatch');
    expectProblem(
      await approve(a.refundId, who, { ...body, reason: 'changed after signing' }),
      403,
      'approval-refused',
      'challenge_mismatch',
    );
    const tampered = { ...body, assertion: { ...body.assertion, signature: body.assertion.signature.replace(/^.{8}/, 'MEUCIQC0') } };
    expectProblem(await approve(a.refundId, who, tampered), 403, 'approval-refused', 'bad_signature');
    const approved = await approve(a.refundId, who, body);
    expect(approved.statusCode, approved.body).toBe(200);
    expect((await api.h.refunds.getRefund(b.refundId)).approvals).toEqual([]);
    const rules = (await api.h.refunds.auditTrail(b.refundId)).map((row) => (row.data as { rule?: string }).rule);
    expect(rules).toContain('challenge_mismatch');
  });

  it('offers the same ceremonies to pages served by the app (app.passkeys), and a rejection signed with a passkey rejects', async () => {
    const who = await api.principal('emp-passkey-pages', ['approver'], '5000.00');
    const authenticator = newAuthenticator();
    const { options } = await api.app.passkeys.passkeyRegistrationOptions(who.id);
    expect(options).toMatchObject({ rp: { id: 'localhost' }, pubKeyCredParams: [{ alg: -7, type: 'public-key' }], attestation: 'none' });
    expect(options.authenticatorSelection).toMatchObject({ userVerification: 'required' });
    const registered = await api.app.passkeys.registerPasskey(who.id, authenticator.register(options));
    await endorse(registered.entry, admins[1]!);
    await endorse(registered.entry, admins[2]!);
    const request = await awaitingApproval();
    const { statement, challenge: signed } = await api.app.passkeys.decisionChallenge(request.refundId, who.id, 'reject', 'wrong serial');
    expect(statement).toMatchObject({ decision: 'reject', reason: 'wrong serial', keyId: registered.keyId, alg: 'webauthn-es256' });
    const rejected = await approve(request.refundId, who, passkeyApprovalBody(statement, authenticator.assert(signed)));
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(json(rejected)).toMatchObject({ state: 'rejected' });
  });

  it('answers a retried challenge or registration with the same Idempotency-Key with its first answer', async () => {
    const { who } = await approverWithPasskey('emp-passkey-retry');
    const request = await awaitingApproval();
    const key = { 'idempotency-key': uniqueId('key') };
    const url = `/v1/refunds/${request.refundId}/approvals/challenge`;
    const first = await api.call('POST', url, who, { decision: 'approve' }, key);
    const retry = await api.call('POST', url, who, { decision: 'approve' }, key);
    expect(first.statusCode, first.body).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(json(retry)).toEqual(json(first));
    expectProblem(await api.call('POST', url, who, { decision: 'reject', reason: 'no' }, key), 422, 'idempotency-key-reused');

    const authenticator = newAuthenticator();
    const registration = authenticator.register(await registrationOptions(who));
    const registrationKey = { 'idempotency-key': uniqueId('key') };
    const registered = await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, registration, registrationKey);
    expect(registered.statusCode, registered.body).toBe(201);
    const again = await api.call('POST', `/v1/principals/${who.id}/passkeys`, who, registration, registrationKey);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(json(again)).toEqual(json(registered));
  });

  it('refuses a challenge to a non-approver, for an unknown refund, for a passkey the approver does not have, and a malformed body', async () => {
    const { who, authenticator } = await approverWithPasskey('emp-passkey-challenge');
    const request = await awaitingApproval();
    expectProblem(await challenge(request.refundId, scanner), 403, 'role-required');
    expectProblem(await challenge('r-no-such-refund', who), 404, 'refund-not-found');
    expectProblem(
      await challenge(request.refundId, who, { decision: 'approve', keyId: 'passkey-0000000000000000' }),
      403,
      'approval-refused',
      'no_endorsed_passkey',
    );
    const invalid = await challenge(request.refundId, who, { decision: 'maybe' });
    expectProblem(invalid, 422, 'invalid-input');
    expect(json(invalid).errors).toEqual([expect.objectContaining({ path: 'decision' })]);
    const passkeyBodyWithSignature = { ...api.decisionBody(who, request), alg: 'webauthn-es256' };
    expectProblem(await approve(request.refundId, who, passkeyBodyWithSignature), 422, 'invalid-input');
    // Straight to the service (as a Temporal client would send it): the issue names the assertion's field.
    const { statement, assertion } = await passkeyDecision(request.refundId, who, authenticator);
    const { clientDataJSON: _dropped, ...partial } = assertion;
    await expect(api.h.refunds.decide(request.refundId, { statement, assertion: partial } as never)).rejects.toMatchObject({
      issues: [{ path: 'assertion.clientDataJSON', message: 'clientDataJSON must be a string' }],
    });
  });
});

/**
 * The key registry over HTTP. A principal's entry (roles, limits per currency, public keys) is
 * proposed by an admin or by the principal itself (to rotate its key, say) and counts for
 * nothing until two trust-root admins endorse it; each admin posts their own endorsement, signed
 * with their trust-root key off the server; one admin's signed revocation retires a key or
 * freezes the principal. The API refuses early what would count for nothing (problems name the
 * rule), stores the rest as signed and audits every change on the principal's own chain; the
 * workflow verifies every record again against the roots it pinned.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EndorsementBody, RegistryView, RevocationBody, RevocationStored, StoredEntryView } from '../../client/registry-views';
import type { Pool } from '../../store/pool';
import type { Principal } from '../../store/principals';
import { addEndorsement, addRevocation, findEntry, proposeRegistryEntry, storedRegistryOf } from '../../store/registry';
import { principalId } from '../../workflows/schemas';
import { canonicalBytes, RegistryEntry, sha256Hex, type TrustRoots } from '../../workflows/statements';
import { principalOf, requireRole } from '../plugins/authentication';
import { problem } from '../plugins/problems';
import { checkEndorsement, checkRevocation, refuse, registryView } from '../registry-review';
import { bearer, problems, withAuth, type RouteDeps } from './shared';

const PrincipalPath = z.strictObject({ principalId: principalId('principalId') });
const EntryPath = PrincipalPath.extend({
  version: z.coerce
    .number({ error: 'version must be a number' })
    .int('version must be a whole number')
    .min(1, 'version must be at least 1'),
});

/** The audit trail's name for a caller. */
const actorOf = (principal: Principal) => `employee:${principal.id}`;

function mismatch(field: string, named: string, path: string) {
  return problem('invalid_input', `${field}: names ${named}, the path ${path}`, {
    errors: [{ path: field, message: `must be ${path}, the principal in the path` }],
  });
}

/** Admins review anyone's registry; a principal its own. */
function requireAdminOrSelf(caller: Principal, principalId: string, what: string): void {
  if (caller.roles.includes('admin') || caller.id === principalId) return;
  throw refuse(
    'not_admin_or_self',
    `${caller.id} may ${what} only their own registry entries (${principalId} is not them) unless an admin`,
  );
}

export function registerRegistryRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const roots = (): TrustRoots => {
    if (deps.trustRoots) return deps.trustRoots;
    throw problem('service_unavailable', 'this API has no trust roots: set REFUNDS_TRUST_ROOTS to the file the workers pin');
  };
  const view = async (id: string) => registryView(id, await storedRegistryOf(deps.pool, id), roots(), new Date());
  registerEntryRoutes(app, deps.pool, view);
  registerSignedRoutes(app, deps.pool, roots, view);
}

type View = (principalId: string) => Promise<RegistryView>;

/** Proposing an entry, and reading a principal's registry. */
function registerEntryRoutes(app: FastifyInstance, pool: Pool, view: View): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/principals/:principalId/registry-entries',
    {
      onRequest: requireRole(pool),
      schema: {
        tags: ['registry'],
        summary: 'Propose a registry entry (public keys only)',
        description:
          'By an admin, or by the principal itself (e.g. a new key). Stored with no endorsements: it counts for nothing until two ' +
          'trust-root admins endorse it. The version must be above every stored one (409 `version_taken`); the same entry again ' +
          'answers 200 and changes nothing. Audited as `registry_entry_proposed` on the principal’s chain.',
        security: bearer,
        params: PrincipalPath,
        body: RegistryEntry,
        response: { 200: StoredEntryView, 201: StoredEntryView, ...problems(400, 409, 413, 415, 422, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { principalId: id } = request.params;
      const caller = principalOf(request);
      if (request.body.principalId !== id) throw mismatch('principalId', request.body.principalId, id);
      requireAdminOrSelf(caller, id, 'propose');
      const stored = await proposeRegistryEntry(pool, request.body, actorOf(caller));
      const { created, entry, entryHash } = stored;
      return reply.code(created ? 201 : 200).send({ created, principalId: id, version: entry.version, entryHash, entry });
    },
  );

  api.get(
    '/v1/principals/:principalId/registry',
    {
      onRequest: requireRole(pool),
      schema: {
        tags: ['registry'],
        summary: 'A principal’s registry: entries pending and current, endorsements, revocations',
        description:
          'What an admin reviews before endorsing: each entry with its hash, whether it counts and which endorsements do ' +
          '(under this API’s trust roots, REFUNDS_TRUST_ROOTS), and what the principal resolves to now. Admins, or the principal itself.',
        security: bearer,
        params: PrincipalPath,
        response: { 200: RegistryView, ...problems(422, 503, ...withAuth) },
      },
    },
    async (request) => {
      requireAdminOrSelf(principalOf(request), request.params.principalId, 'read');
      return view(request.params.principalId);
    },
  );
}

/** What trust-root admins sign: endorsements and revocations. */
function registerSignedRoutes(app: FastifyInstance, pool: Pool, roots: () => TrustRoots, view: View): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/principals/:principalId/registry-entries/:version/endorsements',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['registry'],
        summary: 'Endorse a registry entry as one trust-root admin',
        description:
          'The endorsement (`endorseEntry`: Ed25519 over the entry’s canonical bytes) must be the caller’s own (`not_the_caller`), ' +
          'with a key of the pinned trust roots (`not_a_trust_root`), verify (`bad_signature`), not be for the admin’s own entry ' +
          '(`own_entry`), and come from an admin who has not endorsed it yet (409 `duplicate_admin`). Audited as ' +
          '`registry_entry_endorsed`. Answers with the principal’s registry.',
        security: bearer,
        params: EntryPath,
        body: EndorsementBody,
        response: { 201: RegistryView, ...problems(400, 404, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { principalId: id, version } = request.params;
      const caller = principalOf(request);
      const { entryHash, ...endorsement } = request.body;
      const target = { principalId: id, version, ...(entryHash ? { entryHash } : {}) };
      checkEndorsement(await findEntry(pool, target), endorsement, caller.id, roots());
      await addEndorsement(pool, target, endorsement, actorOf(caller));
      return reply.code(201).send(await view(id));
    },
  );

  api.post(
    '/v1/principals/:principalId/revocations',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['registry'],
        summary: 'Revoke a principal’s key, or freeze the principal (no keyId)',
        description:
          'One trust-root admin’s signed revocation (`signRevocation`) suffices: it only stops money. It must be the caller’s own, ' +
          'with a trust-root key, and verify. Re-enabling is a new entry version endorsed by two admins. Audited as `registry_revocation`.',
        security: bearer,
        params: PrincipalPath,
        body: RevocationBody,
        response: { 201: RevocationStored, ...problems(400, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { principalId: id } = request.params;
      const caller = principalOf(request);
      if (request.body.revocation.principalId !== id) throw mismatch('revocation.principalId', request.body.revocation.principalId, id);
      checkRevocation(request.body, caller.id, roots());
      const stored = await addRevocation(pool, request.body, actorOf(caller));
      return reply.code(201).send({ principalId: id, revocationHash: sha256Hex(canonicalBytes(stored)), revocation: stored.revocation });
    },
  );
}

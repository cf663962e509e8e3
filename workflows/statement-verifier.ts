/**
 * Signed statements, verified inside the workflow: the signer's registry records are read through
 * a local activity (so the answer is in the refund's history and replays the same), resolved under
 * the trust roots the refund pinned, and the statement verified against what the workflow itself
 * knows of the refund. Nothing the message says about its signer counts; roles (and limits) come
 * from the registry entry two admins endorsed. Each statement counts once. Every refusal after the
 * look-up leaves a `statement_rejected` fact; registry rows that count for nothing leave a
 * `registry_records_ignored` fact.
 */
import type { AuditFact } from './refund-model';
import {
  claimedSigner,
  resolvePrincipal,
  statementId,
  verifyParsedStatement,
  type Expectation,
  type IgnoredRecord,
  type RegistryRecords,
  type AnySigned,
  type ResolvedPrincipal,
  type StatementKind,
  type StatementOf,
  type StatementRule,
  type TrustRoots,
} from './statements';

export type Fact = Omit<AuditFact, 'at'>;

export type StatementCheck<K extends StatementKind> =
  | { ok: true; statement: StatementOf<K>; signer: ResolvedPrincipal; statementId: string; keyId: string; facts: Fact[] }
  | { ok: false; rule: string; message: string; facts: Fact[] };

export class StatementVerifier {
  /** Statement ids this refund has verified: the same statement delivered twice counts once. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly trustRoots: TrustRoots,
    private readonly lookupPrincipal: (principalId: string) => Promise<RegistryRecords>,
  ) {}

  /**
   * Whether `signed` (already parsed) is a genuine statement as `expect` says, by a principal the
   * registry knows under the pinned trust roots. `ruleName` renames a statement rule for the
   * caller's vocabulary (decisions speak of approval rules); the audit fact uses the same name.
   */
  async verify<K extends StatementKind>(
    signed: AnySigned<StatementOf<K>>,
    expect: Expectation & { kind: K },
    ruleName: (rule: StatementRule) => string = (rule) => rule,
  ): Promise<StatementCheck<K>> {
    const claimed = claimedSigner(signed) ?? '';
    const id = statementId(signed);
    const records = await this.lookupPrincipal(claimed);
    const now = new Date(Date.now());
    const resolution = resolvePrincipal(records, claimed, this.trustRoots, now);
    const facts = resolution.ignored.length > 0 ? [ignoredFact(claimed, resolution.ignored)] : [];
    const verdict = verifyParsedStatement<K>(signed, resolution, { ...expect, at: now });
    const refuse = (rule: string, message: string): StatementCheck<K> => {
      facts.push({
        kind: 'statement_rejected',
        actor: 'system',
        data: { statement: expect.kind, rule, message, claimedSigner: claimed, statementId: id, keyId: signed.statement.keyId },
      });
      return { ok: false, rule, message, facts };
    };
    if (!verdict.ok) return refuse(ruleName(verdict.rule), verdict.message);
    if (this.seen.has(verdict.statementId)) {
      return refuse('statement_replayed', `statement ${verdict.statementId} has already been received for this refund`);
    }
    this.seen.add(verdict.statementId);
    const { statement, signer, keyId } = verdict;
    return { ok: true, statement, signer, statementId: verdict.statementId, keyId, facts };
  }
}

/** Registry records that name the signer but count for nothing: evidence of tampering, or of a stale record, for the audit trail. */
export function ignoredFact(principalId: string, ignored: readonly IgnoredRecord[]): Fact {
  return {
    kind: 'registry_records_ignored',
    actor: 'system',
    data: {
      principalId,
      ignored: ignored.map(({ record, index, endorsement, version, reason, message }) => ({
        record,
        index,
        ...(endorsement !== undefined ? { endorsement } : {}),
        ...(version !== undefined ? { version } : {}),
        reason,
        message,
      })),
    },
  };
}

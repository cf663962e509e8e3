/**
 * Registry endorsements already verified by this worker thread. Every statement a refund checks
 * resolves its signer's registry entry, and so verifies the same two admin endorsements again: the
 * same Ed25519 signature over the same entry with the same trust-root key, refund after refund.
 * `verifiedOnce` remembers the signatures that verified, by the key, the signature and the SHA-256
 * of the signed bytes, so each is computed once per worker thread instead of once per statement.
 *
 * It holds no refund's state and changes no result (a signature that verified once verifies
 * again, and only successes are remembered), so a refund replays the same whether a signature was
 * remembered or not. The worker loads this module once per workflow thread and shares it between
 * workflows (workflows/shared-modules.ts); it imports nothing.
 */

/** Signatures remembered at most; the oldest is forgotten first. */
const MAX_REMEMBERED = 4_096;

const verified = new Set<string>();

/**
 * `verify()`'s answer, computed once per `key` when it is true. `key` must name everything the
 * answer depends on: the public key, the signature and (a hash of) the signed bytes.
 */
export function verifiedOnce(key: string, verify: () => boolean): boolean {
  if (verified.has(key)) return true;
  if (!verify()) return false;
  if (verified.size >= MAX_REMEMBERED) verified.delete(verified.values().next().value!);
  verified.add(key);
  return true;
}

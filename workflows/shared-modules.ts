/**
 * What every workflow thread of a worker evaluates once and shares between its workflows, instead
 * of evaluating it again as each workflow is created: the libraries the workflows use (zod, the
 * Ed25519 and P-256 curves, SHA-256, RFC 8785), the cache of verified registry endorsements, and
 * the schemas each workflow module builds once (built-once.ts).
 * None of them keeps any workflow's state. Sharing the curves also shares the Ed25519 base-point
 * tables, which are otherwise computed again for every refund. The worker preloads this module
 * (`preloadedWorkflowModules` in worker/workflow-bundle.ts); the SDK freezes what it shares.
 *
 * The product's own schema modules are not here: a zod schema finishes building parts of itself
 * on first use, which a frozen schema cannot do. Their schemas are shared through `builtOnce`
 * (built-once.ts) instead, whose Map the freezing leaves writable.
 *
 * The libraries are re-exported, not just imported, so that the bundler keeps them in this module
 * (they are marked free of side effects, and an import whose value is unused would be dropped).
 */
import { z } from 'zod';

export * as zod from 'zod';
export { ed25519 } from '@noble/curves/ed25519.js';
export { p256 } from '@noble/curves/nist.js';
export { sha256 } from '@noble/hashes/sha2.js';
export { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
export { default as canonicalize } from 'canonicalize';
export { verifiedOnce } from './statements/verified-once';
export { builtOnce } from './built-once';

// zod sets its global defaults (English messages, its memoizer) when the first schema is built.
// Built here, before the SDK freezes what this module shares, so no workflow has to set them.
z.object({ warmUp: z.array(z.string()) });

// The SDK captures a stack trace for every promise a workflow creates (for its stack-trace
// query), and source-maps each frame: with V8's default of 10 frames, that was about a sixth of a
// refund worker's workflow thread. Four frames still name where a promise was made or an error
// thrown, and its callers; set here, in the workflow context, before the SDK freezes its globals.
Error.stackTraceLimit = 4;

/**
 * The refund policy: what a refund needs before money moves. Pure functions only; the workflow
 * pins one policy value at start (it is in the refund's history), so a refund keeps the rules it
 * started under even when the service's policy changes.
 *
 * Workflow code takes its values from './rules' and './risk' directly (types may come from here):
 * this index also loads './schema', the policy file's zod schema, which a workflow never uses and
 * would otherwise build again for every refund it starts.
 */
export * from './schema';
export * from './defaults';
export * from './risk';
export * from './rules';

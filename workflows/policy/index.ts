/**
 * The refund policy: what a refund needs before money moves. Pure functions only; the workflow
 * pins one policy value at start (it is in the refund's history), so a refund keeps the rules it
 * started under even when the service's policy changes.
 */
export * from './schema';
export * from './defaults';
export * from './risk';
export * from './rules';

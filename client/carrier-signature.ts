/**
 * Carrier webhook signatures, for callers that sign as a carrier (the `refunds` CLI, integrators).
 * The scheme lives in config/ so that the API and the worker's activities verify with the same code.
 */
export * from '../config/carrier-signature';

/**
 * Which Temporal `npm start` runs against, and how its API and worker connect to it. A cluster the
 * environment names (TEMPORAL_ADDRESS, or a TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE profile with an
 * address) is used with exactly the connection options `node api/main.ts` and `node worker/main.ts`
 * load through @temporalio/envconfig (config/worker.ts): TLS (TEMPORAL_TLS_*), TEMPORAL_API_KEY,
 * gRPC metadata and the namespace. Otherwise `npm start` runs a dev server, which speaks neither
 * TLS nor API keys: the API and the worker connect to it by address alone.
 */
import { type Config, loadConfig } from '../config/worker';

/** A Temporal cluster and how to connect to it: address, namespace, and the client's connection options. */
export type TemporalTarget = Config['temporal'];

const set = (value: string | undefined) => value !== undefined && value.trim() !== '';

/**
 * The cluster the environment names, with its envconfig connection options; undefined when it
 * names none (`npm start` then starts a dev server). A profile counts only when TEMPORAL_PROFILE or
 * TEMPORAL_CONFIG_FILE picks it, so a default profile on the machine does not stop the dev server.
 */
export function configuredTemporal(env: NodeJS.ProcessEnv = process.env): TemporalTarget | undefined {
  const named = set(env.TEMPORAL_ADDRESS) || set(env.TEMPORAL_PROFILE) || set(env.TEMPORAL_CONFIG_FILE);
  if (!named) return undefined;
  const { temporal } = loadConfig(env);
  return temporal.connectionOptions.address ? temporal : undefined;
}

/** A dev server `npm start` runs itself: no TLS, no API key. */
export function devServerTemporal(address: string, namespace: string): TemporalTarget {
  return { address, namespace, connectionOptions: { address } };
}

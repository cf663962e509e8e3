/**
 * The chaos run's settings, read once from the environment (docs/testing.md, "Chaos").
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export type FaultKind = 'worker' | 'postgres' | 'temporal' | 'api';
export const faultKinds: readonly FaultKind[] = ['worker', 'postgres', 'temporal', 'api'];

export interface ChaosSettings {
  refunds: number;
  seed: number;
  /** The whole run, start-up and settling included, is cut off after this. */
  maxSeconds: number;
  /** Refunds driven side by side. */
  concurrency: number;
  /** Faults of each kind; the schedule spreads them over the driving phase. */
  faultsPerKind: number;
  /** How long a killed process stays down before it is restarted. */
  downMs: number;
  /** Where latest.json and latest.md go. */
  outDir: string;
  /** Keeps the stack's directory (logs, data) after the run. */
  keep: boolean;
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min}, not "${raw}"`);
  return value;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): ChaosSettings {
  return {
    refunds: intVar(env, 'CHAOS_REFUNDS', 300, 1),
    seed: intVar(env, 'CHAOS_SEED', 20261127, 0),
    maxSeconds: intVar(env, 'CHAOS_MAX_SECONDS', 1200, 30),
    concurrency: intVar(env, 'CHAOS_CONCURRENCY', 12, 1),
    faultsPerKind: intVar(env, 'CHAOS_FAULTS_PER_KIND', 2, 0),
    downMs: intVar(env, 'CHAOS_DOWN_MS', 2000, 0),
    keep: env.CHAOS_KEEP === '1',
    outDir: path.resolve(env.CHAOS_OUT_DIR || path.join(projectRoot, 'chaos', 'results')),
  };
}

/** A small seeded generator (mulberry32): the same seed gives the same refunds and the same faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

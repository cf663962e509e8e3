/**
 * .data/stack.json: where a running `npm start` stack can be reached. Written
 * by dev/start.ts once everything is up (mode 0600: it holds database
 * passwords), removed when it stops; the CLIs read it so they work against the
 * local stack without any configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StackInfo {
  temporalAddress: string;
  namespace: string;
  /** The service role's URL, as the worker and the API use it. */
  databaseUrl: string;
  /** The schema owner's URL (embedded database only), for refunds-admin: the service role may only read principals. */
  ownerDatabaseUrl?: string;
  /** Absent when Temporal was not started locally (TEMPORAL_ADDRESS was set). */
  uiUrl?: string;
  /** The HTTP API, e.g. http://127.0.0.1:3000 (the refunds CLI's default). */
  apiUrl?: string;
  /** The `npm start` process. */
  pid: number;
}

export const stackFilePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.data', 'stack.json');

/** The running local stack, or undefined if none is running (or its file is stale). */
export async function readLocalStack(file = stackFilePath): Promise<StackInfo | undefined> {
  let info: Partial<StackInfo>;
  try {
    info = JSON.parse(await readFile(file, 'utf8')) as Partial<StackInfo>;
  } catch {
    return undefined;
  }
  if (!info.pid || !isAlive(info.pid) || !info.temporalAddress || !info.namespace || !info.databaseUrl) return undefined;
  return info as StackInfo;
}

/** True while the process runs (EPERM: it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

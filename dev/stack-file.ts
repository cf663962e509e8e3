/**
 * The local stack file (.data/stack.json, config/local-stack.ts): one stack at a time claims it,
 * writes where it can be reached once it is up, and removes it when it stops, so the CLIs find
 * the running stack, `npm start` or `npm run cluster`, without configuration. And how either
 * stack takes Ctrl-C: the first stops it in order, a second one exits at once.
 */
import { existsSync, rmSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { readLocalStack, type StackInfo } from '../config/local-stack';

/** Another stack already runs from this directory. */
export class StackFileTaken extends Error {}

/** Refuses when a live stack holds `file`; clears the file of a killed one. */
export async function claimStackFile(file: string): Promise<void> {
  if (!existsSync(file)) return;
  const previous = await readLocalStack(file);
  if (previous && previous.pid !== process.pid) {
    throw new StackFileTaken(
      `The refund service is already running from this directory (pid ${previous.pid}, Temporal ${previous.temporalAddress}). ` +
        `Stop it first (Ctrl-C in its terminal, or kill ${previous.pid}).`,
    );
  }
  await rm(file, { force: true });
}

/** Writes `info` (readable by this user only: it holds database passwords); returns what removes it again. */
export async function writeStackFile(file: string, info: StackInfo): Promise<() => Promise<void>> {
  await writeFile(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  const onExit = () => rmSync(file, { force: true });
  process.on('exit', onExit);
  return async () => {
    process.off('exit', onExit);
    await rm(file, { force: true });
  };
}

/**
 * SIGINT, SIGTERM and SIGHUP call `shutdown` once; a second signal a second or more later exits
 * at once. One Ctrl-C can arrive twice: from the terminal, and relayed by the tsx CLI (and npm) a
 * few milliseconds later; only a later one means "force".
 */
export function stopOnSignals(shutdown: () => void): void {
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined && Date.now() - firstSignalAt < 1000) return;
    if (firstSignalAt !== undefined) {
      process.stderr.write(`\n${signal} again: exiting without waiting.\n`);
      process.exit(130);
    }
    firstSignalAt = Date.now();
    process.stderr.write(`\n${signal}: stopping (press Ctrl-C again to force)…\n`);
    shutdown();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

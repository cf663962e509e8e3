/**
 * Small process helpers shared by the dev-stack launchers (Temporal dev server,
 * embedded PostgreSQL): free ports, bounded output tails, readiness polling, exit
 * waiting, and reaping servers orphaned by a previous run that was killed with SIGKILL.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isAlive } from '../config/local-stack';

const execFileAsync = promisify(execFile);

/** Asks the OS for a currently free TCP port on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error(`could not determine a free port on ${host}`));
      });
    });
  });
}

/**
 * A currently free TCP port on `host` between `min` and `max`, tried at random (for a port that
 * must fit a range the OS's ephemeral ports lie outside, e.g. Temporal's membership port, which
 * it stores as a 16-bit signed number).
 */
export async function freePortInRange(min: number, max: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = min + Math.floor(Math.random() * (max - min + 1));
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port between ${min} and ${max} on ${host}`);
}

/** Resolves true if something accepts TCP connections on host:port. */
export async function isPortInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Keeps the last `maxLines` lines written by a child, for error messages. */
export class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 40) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  toString(): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.join('\n').trim();
  }
}

/** A readiness check that did not pass in time; the message says what and the last error. */
export class ReadyTimeout extends Error {}

/** A readiness wait that can be called off (the server died first), so it stops polling. */
export type Readiness = Promise<void> & { cancel(): void };

/**
 * Runs `check` every `intervalMs` until it resolves. After `timeoutMs` it rejects with a
 * ReadyTimeout: "<notReady> within N s (last error: ...)".
 */
export function pollUntilReady(check: () => Promise<void>, opts: { timeoutMs: number; intervalMs: number; notReady: string }): Readiness {
  let cancelled = false;
  const run = async () => {
    const deadline = Date.now() + opts.timeoutMs;
    let lastError: unknown;
    while (!cancelled) {
      try {
        await check();
        return;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) {
        const reason = lastError instanceof Error ? lastError.message : String(lastError);
        throw new ReadyTimeout(`${opts.notReady} within ${opts.timeoutMs / 1000} s (last error: ${reason})`);
      }
      await sleep(opts.intervalMs);
    }
  };
  const promise = run();
  promise.catch(() => undefined);
  const cancel = () => {
    cancelled = true;
  };
  return Object.assign(promise, { cancel });
}

/** Waits for a spawned child to exit; resolves false on timeout. */
export async function waitForChildExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Polls until a (non-child) pid is gone; resolves false on timeout. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Sends `signal`, waits up to `graceMs`, then SIGKILLs. Used by every stop().
 */
export async function terminateChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (await waitForChildExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitForChildExit(child, 5000);
}

/**
 * Runs in a tiny detached Node process per server: its stdin is a pipe whose
 * other end only this process holds, so it reads end-of-file the moment this
 * process dies, however it dies, and then signals the server.
 */
const WATCHDOG_SCRIPT = `
const [serverPid, signal] = [Number(process.argv[1]), process.argv[2]];
const alive = () => { try { process.kill(serverPid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
process.stdin.on('end', () => { try { process.kill(serverPid, signal); } catch {} process.exit(0); });
process.stdin.resume();
setInterval(() => { if (!alive()) process.exit(0); }, 1000);
`;

/**
 * Makes sure `child` is signalled if this process dies without running exit
 * hooks: SIGKILL, a crash in native code, or the tsx CLI SIGKILLing it when a
 * Ctrl-C arrives while the event loop is busy (it allows 60 ms to react).
 */
export function stopWhenParentDies(child: ChildProcess, signal: NodeJS.Signals): () => void {
  if (!child.pid) return () => {};
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT, String(child.pid), signal], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as unknown as { unref(): void }).unref();
  watchdogs.add(watchdog);
  return () => {
    watchdogs.delete(watchdog);
    watchdog.kill();
  };
}

/** Keeps the watchdogs' pipe ends referenced for as long as this process lives. */
const watchdogs = new Set<ChildProcess>();

/**
 * Makes sure `child` does not outlive this process when it exits without
 * calling the service's stop() (uncaught error, process.exit, second Ctrl-C).
 * Returns a function that removes the hook once the child is stopped.
 */
export function killOnExit(child: ChildProcess, signal: NodeJS.Signals): () => void {
  const hook = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('exit', hook);
  return () => process.off('exit', hook);
}

export interface ProcessInfo {
  ppid: number;
  command: string;
}

/** Parent pid and command line of a running process (works on Linux and macOS). */
export async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'ppid=,args=', '-p', String(pid)]);
    const match = /^\s*(\d+)\s+(.*)$/.exec(stdout.trim());
    if (!match) return undefined;
    return { ppid: Number(match[1]), command: match[2] ?? '' };
  } catch {
    return undefined;
  }
}

interface OwnerRecord {
  serverPid: number;
  ownerPid: number;
}

/**
 * Servers are spawned in their own process group (so a terminal Ctrl-C reaches
 * only the orchestrator, which then stops them in order), which also means a
 * SIGKILLed orchestrator leaves them running and holding their port and data.
 * We record "server pid, owner pid" next to the data; on the next start, a
 * recorded server that is still running but no longer a child of its owner is
 * an orphan of a killed run and gets shut down. One whose owner is still its
 * parent belongs to a live stack, and we refuse to start a second server on
 * the same data.
 */
export async function reapOrphan(opts: {
  ownerFile: string;
  what: string;
  /** Recognises the server's command line (guards against pid reuse). */
  isServerCommand: (command: string) => boolean;
  signal: NodeJS.Signals;
  log?: (msg: string) => void;
}): Promise<void> {
  let record: OwnerRecord;
  try {
    record = JSON.parse(await readFile(opts.ownerFile, 'utf8')) as OwnerRecord;
  } catch {
    return;
  }
  const info = await processInfo(record.serverPid);
  if (info && opts.isServerCommand(info.command)) {
    if (info.ppid === record.ownerPid) {
      throw new Error(
        `The ${opts.what} is already running (pid ${record.serverPid}, started by pid ${record.ownerPid}). Stop that process first.`,
      );
    }
    opts.log?.(`stopping the ${opts.what} left over from a killed run (pid ${record.serverPid})`);
    process.kill(record.serverPid, opts.signal);
    if (!(await waitForPidExit(record.serverPid, 30_000))) {
      process.kill(record.serverPid, 'SIGKILL');
      await waitForPidExit(record.serverPid, 5000);
    }
  }
  await rm(opts.ownerFile, { force: true });
}

export async function writeOwnerFile(ownerFile: string, serverPid: number): Promise<void> {
  const record: OwnerRecord = { serverPid, ownerPid: process.pid };
  await writeFile(ownerFile, `${JSON.stringify(record)}\n`);
}

export interface SupervisedServer {
  /** Resolves with how the server ended: "exited with code 1", "was killed by SIGKILL". */
  exited: Promise<string>;
  /** Resolves if the binary could not be run at all. */
  spawnError: Promise<Error>;
  /** Stops it, once: `stopSignal`, then SIGKILL after the grace period; then tidies up. */
  stop(): Promise<void>;
  /** Waits for `ready`, unless the server dies or cannot be run first (then `ready` is cancelled). */
  readyOrEnded(ready: Readiness): Promise<'ready' | { exited: string } | { error: Error }>;
}

/**
 * Looks after a server the dev stack started: keeps its output (a tail for error messages and an
 * optional log file), makes sure it does not outlive us (an exit hook and a watchdog for SIGKILL),
 * and stops it gracefully exactly once.
 */
export function superviseServer(
  child: ChildProcess,
  opts: {
    tail: OutputTail;
    log?: WriteStream;
    stopSignal: NodeJS.Signals;
    killOnExitSignal: NodeJS.Signals;
    graceMs: number;
    ownerFile?: string;
  },
): SupervisedServer {
  const removeExitHook = killOnExit(child, opts.killOnExitSignal);
  const releaseWatchdog = stopWhenParentDies(child, opts.stopSignal);
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      opts.tail.push(chunk);
      opts.log?.write(chunk);
    });
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`)),
  );
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await terminateChild(child, opts.stopSignal, opts.graceMs);
      removeExitHook();
      releaseWatchdog();
      if (opts.ownerFile) await rm(opts.ownerFile, { force: true });
      await new Promise<void>((resolve) => (opts.log ? opts.log.end(resolve) : resolve()));
    })());
  const readyOrEnded: SupervisedServer['readyOrEnded'] = async (ready) => {
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      exited.then((how) => ({ exited: how })),
      spawnError.then((error) => ({ error })),
    ]);
    if (outcome !== 'ready') ready.cancel();
    return outcome;
  };
  return { exited, spawnError, stop, readyOrEnded };
}

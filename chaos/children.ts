/**
 * The product's own processes as the chaos run starts them: a worker (worker/main.ts) or the API
 * (api/main.ts), each a child process from its production entry point, that can be killed with
 * SIGKILL and started again with the same environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { killOnExit, OutputTail, terminateChild } from '../dev/processes';
import { projectRoot } from './settings';

export interface Restartable {
  name: string;
  pid(): number | undefined;
  start(): Promise<void>;
  /** SIGKILL, then waits until it is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** Exits nobody asked for (the run kills and stops only through kill() and stop()). */
  unexpectedExits: string[];
}

interface ChildOptions {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** A line on stdout that says the process is serving. */
  readyLine: RegExp;
  /** Checked after the ready line, until it passes (e.g. /readyz answers 200). */
  readyCheck?: () => Promise<boolean>;
  startTimeoutMs?: number;
  /** Appends the process's output here, every start. */
  logFile: string;
}

/** The child's environment: this process's, minus every TEMPORAL_*, REFUNDS_* and CHAOS_* variable, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(TEMPORAL_|REFUNDS_|CHAOS_)/.test(name)));
  return { ...base, ...env };
}

async function untilReady(check: () => Promise<boolean>, deadline: number, what: string): Promise<void> {
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not become ready in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function productProcess(opts: ChildOptions): Restartable {
  let child: ChildProcess | undefined;
  let removeHook = () => {};
  const unexpectedExits: string[] = [];
  const start = async () => {
    const tail = new OutputTail(60);
    const started = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, opts.entry)], {
      cwd: projectRoot,
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    started.stdout!.pipe(log);
    started.stderr!.pipe(log);
    removeHook = killOnExit(started, 'SIGKILL');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${opts.name} did not start in time:\n${tail}`)), opts.startTimeoutMs ?? 120_000);
      started.stdout!.on('data', (chunk: Buffer) => {
        tail.push(chunk);
        if (opts.readyLine.test(tail.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${opts.name} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it was ready:\n${tail}`));
      });
    });
    started.once('exit', (code, signal) => {
      if (child === started)
        unexpectedExits.push(
          `${opts.name} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} at ${new Date().toISOString()}:\n${tail}`,
        );
    });
    if (opts.readyCheck) await untilReady(opts.readyCheck, Date.now() + (opts.startTimeoutMs ?? 120_000), opts.name);
  };
  const stopWith = async (signal: NodeJS.Signals, graceMs: number) => {
    const stopping = child;
    if (!stopping) return;
    child = undefined;
    await terminateChild(stopping, signal, graceMs);
    removeHook();
  };
  return {
    name: opts.name,
    pid: () => child?.pid,
    start,
    kill: () => stopWith('SIGKILL', 10_000),
    stop: () => stopWith('SIGTERM', 20_000),
    unexpectedExits,
  };
}

/**
 * Finds the Temporal CLI (which contains the dev server), building it from source
 * with Go when none is installed, so a fresh machine needs only Node.js and Go.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../config/local-stack';
import { OutputTail } from './processes';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = path.join(projectRoot, '.tools');
const binDir = path.join(toolsDir, 'bin');
const exe = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
const builtBinary = path.join(binDir, exe);
const lockDir = path.join(toolsDir, 'temporal-build.lock');

/** A cold build takes a few minutes; a waiter gives up well after that. */
const LOCK_WAIT_MS = 20 * 60_000;

let resolved: Promise<string> | undefined;

/**
 * Path of a `temporal` CLI binary, in this order: $TEMPORAL_CLI_PATH, `temporal`
 * on PATH, `.tools/bin/temporal`, else built there with `go install` (once; a
 * lock serialises concurrent processes).
 */
export function resolveTemporalBinary(): Promise<string> {
  resolved ??= findOrBuild().catch((err: unknown) => {
    resolved = undefined;
    throw err;
  });
  return resolved;
}

async function findOrBuild(): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return path.resolve(fromEnv);
    throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file. Point it at a Temporal CLI binary, or unset it.`);
  }
  const onPath = await findOnPath(exe);
  if (onPath) return onPath;
  if (await isExecutable(builtBinary)) return builtBinary;
  return buildWithLock();
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function buildWithLock(): Promise<string> {
  await mkdir(toolsDir, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    if (await tryLock()) {
      try {
        // Another process may have finished the build while we waited for the lock.
        if (await isExecutable(builtBinary)) return builtBinary;
        await build();
        return builtBinary;
      } finally {
        await rm(lockDir, { recursive: true, force: true });
      }
    }
    if (await isExecutable(builtBinary)) return builtBinary;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for another process to build the Temporal CLI (lock ${lockDir}). ` +
          `Remove the lock directory if no build is running, or set TEMPORAL_CLI_PATH.`,
      );
    }
    if (!announced) {
      process.stderr.write('waiting for another process to finish building the Temporal CLI…\n');
      announced = true;
    }
    await sleep(500);
  }
}

/** mkdir is atomic, so it works as a cross-process lock; a lock whose owner died is broken. */
async function tryLock(): Promise<boolean> {
  try {
    await mkdir(lockDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = Number(await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => ''));
    const age = Date.now() - (await stat(lockDir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    // A pid-less lock is normal for the instant between mkdir and writing the pid;
    // one that stays pid-less belonged to a process that died in that instant.
    const stale = owner > 0 ? !isAlive(owner) : age > 10_000;
    if (!stale) return false;
    await rm(lockDir, { recursive: true, force: true });
    return tryLock();
  }
  await writeFile(path.join(lockDir, 'pid'), String(process.pid));
  return true;
}

async function build(): Promise<void> {
  const started = Date.now();
  process.stderr.write(
    `building Temporal CLI ${TEMPORAL_CLI_VERSION} into ${path.relative(process.cwd(), binDir) || binDir} (one-time, a few minutes)…\n`,
  );
  // Built into a staging directory and renamed, so a half-written binary is never
  // mistaken for a finished one if the build is interrupted.
  const stagingDir = path.join(toolsDir, `build-${process.pid}`);
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true });
  try {
    await runGoInstall(stagingDir);
    await mkdir(binDir, { recursive: true });
    await rename(path.join(stagingDir, exe), builtBinary);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
  process.stderr.write(`built Temporal CLI in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

async function runGoInstall(gobin: string): Promise<void> {
  const target = `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`;
  const tail = new OutputTail(30);
  const result = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn('go', ['install', target], {
      cwd: toolsDir,
      env: { ...process.env, GOBIN: gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  if (result.error?.code === 'ENOENT') {
    throw new Error(
      'The Temporal CLI is needed to run the local Temporal server, and it is neither on PATH nor in .tools/bin. ' +
        'Building it needs the Go toolchain, and `go` was not found on PATH. ' +
        'Install Go 1.25 or newer (https://go.dev/dl/), or install the Temporal CLI (https://docs.temporal.io/cli) ' +
        'and put `temporal` on PATH or set TEMPORAL_CLI_PATH to its path.',
    );
  }
  if (result.error || result.code !== 0) {
    const output = tail.toString();
    throw new Error(
      `Building the Temporal CLI failed: \`go install ${target}\` ` +
        (result.error ? `could not run (${result.error.message})` : `exited with code ${result.code}`) +
        '. Fix the Go toolchain (network access to the Go module proxy is needed), or install the Temporal CLI ' +
        '(https://docs.temporal.io/cli) and set TEMPORAL_CLI_PATH to its path.' +
        (output ? `\n--- go output (last lines) ---\n${output}` : ''),
    );
  }
}

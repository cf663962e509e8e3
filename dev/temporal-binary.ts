/**
 * Finds the Temporal CLI (which contains the dev server), or gets it: from the official release
 * archive (checksum-pinned, dev/temporal-download.ts), or else built from source with Go, so a
 * fresh machine needs only Node.js, and Go only where the download cannot be reached.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../config/local-stack';
import { OutputTail } from './processes';
import { DownloadUnavailable, downloadTemporalCli, releaseAsset, runVersion, TEMPORAL_CLI_DOWNLOAD_BASE } from './temporal-download';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const defaultToolsDir = path.join(projectRoot, '.tools');

/** A cold build takes a few minutes; a waiter gives up well after that. */
const LOCK_WAIT_MS = 20 * 60_000;

export interface ResolveOptions {
  /** Where TEMPORAL_CLI_PATH, PATH and TEMPORAL_CLI_DOWNLOAD_URL are read from (and what `go` runs with). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The tool folder: the binary goes to <toolsDir>/bin. Default .tools/ in the project. */
  toolsDir?: string;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  platform?: NodeJS.Platform;
  arch?: string;
  /** Download timeouts (see downloadTemporalCli). */
  connectTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** How often the Go build reports that it is still going. Default 15 s. */
  heartbeatMs?: number;
}

interface Resolution {
  env: NodeJS.ProcessEnv;
  toolsDir: string;
  binDir: string;
  exe: string;
  binary: string;
  lockDir: string;
  log: (line: string) => void;
  options: ResolveOptions;
}

let resolved: Promise<string> | undefined;

/**
 * Path of a `temporal` CLI binary, in this order: $TEMPORAL_CLI_PATH, `temporal` on PATH,
 * `.tools/bin/temporal`, else installed there: downloaded from the official release (checksum
 * verified; TEMPORAL_CLI_DOWNLOAD_URL names a mirror, `off` skips it) or, when the download cannot
 * be reached, built with `go install` (once; a lock serialises concurrent processes).
 */
export function resolveTemporalBinary(options?: ResolveOptions): Promise<string> {
  if (options) return findOrInstall(options);
  resolved ??= findOrInstall({}).catch((err: unknown) => {
    resolved = undefined;
    throw err;
  });
  return resolved;
}

async function findOrInstall(options: ResolveOptions): Promise<string> {
  const env = options.env ?? process.env;
  const exe = (options.platform ?? process.platform) === 'win32' ? 'temporal.exe' : 'temporal';
  const toolsDir = options.toolsDir ?? defaultToolsDir;
  const binDir = path.join(toolsDir, 'bin');
  const r: Resolution = {
    env,
    toolsDir,
    binDir,
    exe,
    binary: path.join(binDir, exe),
    lockDir: path.join(toolsDir, 'temporal-build.lock'),
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
    options,
  };
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return path.resolve(fromEnv);
    throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file. Point it at a Temporal CLI binary, or unset it.`);
  }
  const onPath = await findOnPath(exe, env.PATH);
  if (onPath) return onPath;
  if (await isExecutable(r.binary)) return r.binary;
  return installWithLock(r);
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function installWithLock(r: Resolution): Promise<string> {
  await mkdir(r.toolsDir, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    if (await tryLock(r.lockDir)) {
      try {
        // Another process may have finished while we waited for the lock.
        if (await isExecutable(r.binary)) return r.binary;
        return await install(r);
      } finally {
        await rm(r.lockDir, { recursive: true, force: true });
      }
    }
    if (await isExecutable(r.binary)) return r.binary;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for another process to install the Temporal CLI (lock ${r.lockDir}). ` +
          `Remove the lock directory if no install is running, or set TEMPORAL_CLI_PATH.`,
      );
    }
    if (!announced) {
      r.log('waiting for another process to finish installing the Temporal CLI…');
      announced = true;
    }
    await sleep(500);
  }
}

/** The release download, else (only when it cannot be reached) the Go build. */
async function install(r: Resolution): Promise<string> {
  const base = r.env.TEMPORAL_CLI_DOWNLOAD_URL || TEMPORAL_CLI_DOWNLOAD_BASE;
  const asset = releaseAsset(r.options.platform ?? process.platform, r.options.arch ?? process.arch);
  if (base === 'off') {
    r.log('Temporal CLI download is off (TEMPORAL_CLI_DOWNLOAD_URL=off); building it with Go instead');
  } else if ('unsupported' in asset) {
    r.log(`Temporal CLI download skipped: ${asset.unsupported}; building it with Go instead`);
  } else {
    const started = Date.now();
    try {
      const binary = await downloadTemporalCli({
        baseUrl: base,
        asset,
        binDir: r.binDir,
        exe: r.exe,
        log: r.log,
        ...(r.options.connectTimeoutMs ? { connectTimeoutMs: r.options.connectTimeoutMs } : {}),
        ...(r.options.stallTimeoutMs ? { stallTimeoutMs: r.options.stallTimeoutMs } : {}),
      });
      r.log(`Temporal CLI ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return binary;
    } catch (error) {
      // A refused download (wrong checksum, a binary that does not run) stops here: it is not a network hiccup.
      if (!(error instanceof DownloadUnavailable)) throw error;
      r.log(`${error.message} (after ${((Date.now() - started) / 1000).toFixed(1)} s); building it with Go instead`);
    }
  }
  await build(r);
  return r.binary;
}

/** mkdir is atomic, so it works as a cross-process lock; a lock whose owner died is broken. */
export async function tryLock(lockDir: string): Promise<boolean> {
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
    return tryLock(lockDir);
  }
  await writeFile(path.join(lockDir, 'pid'), String(process.pid));
  return true;
}

async function build(r: Resolution): Promise<void> {
  const started = Date.now();
  r.log(
    `building Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${path.relative(process.cwd(), r.binDir) || r.binDir} (one-time, a few minutes)…`,
  );
  // Built into a staging directory and renamed, so a half-written binary is never
  // mistaken for a finished one if the build is interrupted.
  const stagingDir = path.join(r.toolsDir, `build-${process.pid}`);
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true });
  try {
    await runGoInstall(r, stagingDir, started);
    const built = path.join(stagingDir, r.exe);
    const version = await runVersion(built).catch((error: unknown) => {
      throw new Error(`The Temporal CLI built with Go does not run (\`temporal --version\`: ${(error as Error).message}).`);
    });
    await mkdir(r.binDir, { recursive: true });
    await rename(built, r.binary);
    r.log(`built ${version} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

/** `go install` of the pinned CLI into `gobin`, with a progress line every heartbeat; throws with what to do when it fails. */
async function runGoInstall(r: Resolution, gobin: string, started: number): Promise<void> {
  const target = `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`;
  const result = await goInstall({
    targets: [target],
    gobin,
    cwd: r.toolsDir,
    env: r.env,
    log: r.log,
    started,
    ...(r.options.heartbeatMs ? { heartbeatMs: r.options.heartbeatMs } : {}),
  });
  if (result.error?.code === 'ENOENT') {
    throw new Error(
      'The Temporal CLI is needed to run the local Temporal server, and it is neither on PATH nor in .tools/bin. ' +
        'Its release download could not be had (see above), and building it needs the Go toolchain, and `go` was not found on PATH. ' +
        'Install Go 1.25 or newer (https://go.dev/dl/), or install the Temporal CLI (https://docs.temporal.io/cli) ' +
        'and put `temporal` on PATH or set TEMPORAL_CLI_PATH to its path.',
    );
  }
  if (result.error || result.code !== 0) {
    throw new Error(
      `Building the Temporal CLI failed: \`go install ${target}\` ` +
        (result.error ? `could not run (${result.error.message})` : `exited with code ${result.code}`) +
        '. Fix the Go toolchain (network access to the Go module proxy is needed), or install the Temporal CLI ' +
        '(https://docs.temporal.io/cli) and set TEMPORAL_CLI_PATH to its path.' +
        (result.output ? `\n--- go output (last lines) ---\n${result.output}` : ''),
    );
  }
}

export interface GoInstallOptions {
  /** module/path@version, one or more. */
  targets: string[];
  /** Where the binaries go ($GOBIN). */
  gobin: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** When the build started, for the elapsed time in the progress lines. */
  started: number;
  /** How often a progress line is written. Default 15 s. */
  heartbeatMs?: number;
}

export interface GoInstallResult {
  code: number | null;
  /** Set when `go` could not be run at all (ENOENT: no Go on PATH). */
  error?: NodeJS.ErrnoException;
  /** The last lines of go's output. */
  output: string;
}

/**
 * `go install -v`, which names each package as it is compiled: a line every heartbeat (15 s) says
 * how long it has run, how many modules it downloaded and packages it compiled, and the last one.
 */
export async function goInstall(opts: GoInstallOptions): Promise<GoInstallResult> {
  const tail = new OutputTail(30);
  let packages = 0;
  let modules = 0;
  let last = '';
  let partial = '';
  const heartbeat = setInterval(() => {
    const elapsed = ((Date.now() - opts.started) / 1000).toFixed(0);
    opts.log(`  go build: ${elapsed} s, ${modules} modules downloaded, ${packages} packages compiled${last ? ` (last: ${last})` : ''}`);
  }, opts.heartbeatMs ?? 15_000);
  const result = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn('go', ['install', '-v', ...opts.targets], {
      cwd: opts.cwd,
      env: { ...opts.env, GOBIN: opts.gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('go: downloading ')) modules++;
        else if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line.trim())) {
          packages++;
          last = line.trim();
        }
      }
    });
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  }).finally(() => clearInterval(heartbeat));
  return { ...result, output: tail.toString() };
}

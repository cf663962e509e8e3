/**
 * The Temporal server as separate service processes needs the server binary itself (the dev
 * server in the Temporal CLI is all services in one process on SQLite) and its SQL schema tool.
 * Neither has a release archive pinned here, so both are built from source with Go, once, into the
 * project's tool folder (.tools/bin/temporal-server, .tools/bin/temporal-sql-tool), with the
 * PostgreSQL schema files of the same module version copied beside them (.tools/temporal-server/).
 * A sidecar file names the module version the binaries were built from; a binary of another
 * version is built again.
 */
import { execFile } from 'node:child_process';
import { access, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { defaultToolsDir, goInstall, isExecutable, tryLock } from './temporal-binary';

const execFileAsync = promisify(execFile);

export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

/** A cold build takes a few minutes; a waiter gives up well after that. */
const LOCK_WAIT_MS = 20 * 60_000;

export interface TemporalServerBinaries {
  /** `temporal-server`: `--root <dir> --config <dir> --env <name> start --service <service>`. */
  server: string;
  /** `temporal-sql-tool`: setup-schema and update-schema. */
  sqlTool: string;
  /** The module's schema/postgresql/v12 directory (temporal/versioned, visibility/versioned). */
  postgresSchemaDir: string;
  /** module@version the binaries were built from. */
  version: string;
}

export interface ServerBinariesOptions {
  /** The tool folder: binaries go to <toolsDir>/bin. Default .tools/ in the project. */
  toolsDir?: string;
  /** What `go` runs with. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  /** How often the Go build reports that it is still going. Default 15 s. */
  heartbeatMs?: number;
}

interface Sidecar {
  module: string;
  version: string;
}

const wanted = `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`;

function layout(toolsDir: string) {
  const binDir = path.join(toolsDir, 'bin');
  return {
    binDir,
    server: path.join(binDir, 'temporal-server'),
    sqlTool: path.join(binDir, 'temporal-sql-tool'),
    sidecar: path.join(binDir, 'temporal-server.version.json'),
    postgresSchemaDir: path.join(toolsDir, 'temporal-server', 'schema', 'postgresql', 'v12'),
    lockDir: path.join(toolsDir, 'temporal-server-build.lock'),
  };
}

/** The binaries and schema files of TEMPORAL_SERVER_VERSION, built with Go first if they are missing or of another version. */
export async function resolveTemporalServerBinaries(options: ServerBinariesOptions = {}): Promise<TemporalServerBinaries> {
  const toolsDir = options.toolsDir ?? defaultToolsDir;
  const files = layout(toolsDir);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const found = async () => ((await isCurrent(files)) ? result(files) : undefined);
  const cached = await found();
  if (cached) return cached;
  await mkdir(toolsDir, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    if (await tryLock(files.lockDir)) {
      try {
        // Another process may have finished while we waited for the lock.
        const ready = await found();
        if (ready) return ready;
        // Binaries of the right version without the schema files beside them (a tool folder shared by checkouts): copy only those.
        if (await binariesCurrent(files)) {
          await copySchema(files.postgresSchemaDir, options.env ?? process.env);
          return result(files);
        }
        return await build(toolsDir, files, log, options);
      } finally {
        await rm(files.lockDir, { recursive: true, force: true });
      }
    }
    const built = await found();
    if (built) return built;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for another process to build the Temporal server (lock ${files.lockDir}). Remove the lock directory if no build is running.`,
      );
    }
    if (!announced) {
      log('waiting for another process to finish building the Temporal server…');
      announced = true;
    }
    await sleep(500);
  }
}

function result(files: ReturnType<typeof layout>): TemporalServerBinaries {
  return { server: files.server, sqlTool: files.sqlTool, postgresSchemaDir: files.postgresSchemaDir, version: wanted };
}

async function isCurrent(files: ReturnType<typeof layout>): Promise<boolean> {
  if (!(await binariesCurrent(files))) return false;
  return access(path.join(files.postgresSchemaDir, 'temporal', 'versioned', 'v1.0', 'manifest.json')).then(
    () => true,
    () => false,
  );
}

async function binariesCurrent(files: ReturnType<typeof layout>): Promise<boolean> {
  const sidecar = await readFile(files.sidecar, 'utf8')
    .then((text) => JSON.parse(text) as Partial<Sidecar>)
    .catch(() => undefined);
  if (sidecar?.module !== TEMPORAL_SERVER_MODULE || sidecar.version !== TEMPORAL_SERVER_VERSION) return false;
  return (await isExecutable(files.server)) && (await isExecutable(files.sqlTool));
}

async function build(
  toolsDir: string,
  files: ReturnType<typeof layout>,
  log: (line: string) => void,
  options: ServerBinariesOptions,
): Promise<TemporalServerBinaries> {
  const env = options.env ?? process.env;
  const started = Date.now();
  log(
    `building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL schema tool with Go into ${path.relative(process.cwd(), files.binDir) || files.binDir} (one-time, a few minutes)…`,
  );
  // Built into a staging directory and renamed, so a half-written binary is never taken for a finished one.
  const stagingDir = path.join(toolsDir, `server-build-${process.pid}`);
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true });
  try {
    const outcome = await goInstall({
      targets: [
        `${TEMPORAL_SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`,
        `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
      ],
      gobin: stagingDir,
      cwd: toolsDir,
      env,
      log,
      started,
      ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    });
    if (outcome.error?.code === 'ENOENT') {
      throw new Error(
        'The local Temporal cluster runs the Temporal server built from source, and building it needs the Go toolchain: `go` was not found on PATH. ' +
          'Install Go 1.25 or newer (https://go.dev/dl/). (`npm start` needs no Go: it runs the dev server from the Temporal CLI.)',
      );
    }
    if (outcome.error || outcome.code !== 0) {
      throw new Error(
        `Building the Temporal server failed: \`go install ${wanted}\` ` +
          (outcome.error ? `could not run (${outcome.error.message})` : `exited with code ${outcome.code}`) +
          '. Network access to the Go module proxy is needed for the first build.' +
          (outcome.output ? `\n--- go output (last lines) ---\n${outcome.output}` : ''),
      );
    }
    const version = await serverVersion(path.join(stagingDir, 'server'));
    await copySchema(files.postgresSchemaDir, env);
    await mkdir(files.binDir, { recursive: true });
    await rename(path.join(stagingDir, 'server'), files.server);
    await rename(path.join(stagingDir, 'sql'), files.sqlTool);
    const sidecar: Sidecar = { module: TEMPORAL_SERVER_MODULE, version: TEMPORAL_SERVER_VERSION };
    await writeFile(files.sidecar, `${JSON.stringify(sidecar)}\n`);
    log(`built the Temporal server (${version}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return result(files);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

/** `temporal-server --version`, e.g. "temporal version 1.29.1"; rejects if the binary does not run. */
export async function serverVersion(binary: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 20_000 });
    return stdout.trim().split('\n')[0] ?? '';
  } catch (error) {
    throw new Error(`The Temporal server built with Go does not run (\`temporal-server --version\`: ${(error as Error).message}).`);
  }
}

/** The module's PostgreSQL schema files, from the Go module cache (where the build downloaded the module), into the tool folder. */
async function copySchema(target: string, env: NodeJS.ProcessEnv): Promise<void> {
  let dir: string;
  try {
    const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', wanted], {
      env,
      timeout: 120_000,
      maxBuffer: 4 * 1024 * 1024,
    });
    dir = (JSON.parse(stdout) as { Dir?: string }).Dir ?? '';
  } catch (error) {
    throw new Error(
      `Finding the Temporal server's schema files failed (\`go mod download -json ${wanted}\`: ${(error as Error).message}).`,
    );
  }
  if (!dir) throw new Error(`\`go mod download -json ${wanted}\` named no module directory.`);
  await rm(target, { recursive: true, force: true });
  await mkdir(path.dirname(target), { recursive: true });
  await cp(path.join(dir, 'schema', 'postgresql', 'v12'), target, { recursive: true });
  // The module cache is read-only; the copy need not be.
  await execFileAsync('chmod', ['-R', 'u+w', target]);
}

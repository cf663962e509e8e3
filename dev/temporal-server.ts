/**
 * Runs `temporal server start-dev` as a child process and waits until its
 * frontend answers, for `npm start` and the test suite.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, isPortInUse, OutputTail, pollUntilReady, ReadyTimeout, reapOrphan, superviseServer, writeOwnerFile } from './processes';

export type SearchAttributeTypeName = 'Keyword' | 'Datetime' | 'Int' | 'Bool' | 'Text' | 'Double' | 'KeywordList';

export interface TemporalDevServerOptions {
  binary: string;
  /** Interface the frontend (and Web UI) binds to. Default 127.0.0.1. */
  ip?: string;
  /** Frontend gRPC port; 0 or omitted picks a free one. */
  port?: number;
  /** Web UI port; 0 or omitted picks a free one; false runs headless. */
  uiPort?: number | false;
  /** SQLite file for persistence across restarts; omitted = in-memory. */
  dbFile?: string;
  /** Namespace to create and wait for. Default 'default' (always created). */
  namespace?: string;
  searchAttributes: Record<string, SearchAttributeTypeName>;
  /** Dynamic configuration values (`--dynamic-config-value KEY=VALUE`), e.g. history queue poll rates. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** Appends the server's output here; otherwise only kept for error messages. */
  logFile?: string;
  /** How long to wait for the frontend to answer. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface TemporalDevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  uiUrl?: string;
  namespace: string;
  pid: number;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const ownerFile = opts.dbFile ? `${opts.dbFile}.owner.json` : undefined;

  if (opts.dbFile) await mkdir(path.dirname(opts.dbFile), { recursive: true });
  if (ownerFile) {
    await reapOrphan({
      ownerFile,
      what: `Temporal dev server for ${opts.dbFile}`,
      isServerCommand: (command) => command.includes('start-dev'),
      signal: 'SIGTERM',
      log: (msg) => process.stderr.write(`${msg}\n`),
    });
  }
  const { port, uiPort } = await choosePorts(ip, opts);
  const args = devServerArgs(opts, { ip, port, uiPort, namespace });
  const command = `\`${opts.binary} ${args.join(' ')}\``;

  let log: WriteStream | undefined;
  if (opts.logFile) {
    await mkdir(path.dirname(opts.logFile), { recursive: true });
    log = createWriteStream(opts.logFile, { flags: 'a' });
  }
  const tail = new OutputTail(40);
  // Own process group: a Ctrl-C in the terminal goes to the orchestrator only,
  // which stops the worker before the server it is talking to.
  const child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const { stop, readyOrEnded } = superviseServer(child, {
    tail,
    log,
    stopSignal: 'SIGTERM',
    killOnExitSignal: 'SIGKILL',
    graceMs: STOP_GRACE_MS,
    ...(ownerFile ? { ownerFile } : {}),
  });

  const address = `${ip}:${port}`;
  try {
    const ready = pollUntilReady(() => frontendReady(address, namespace), {
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      intervalMs: 200,
      notReady: `The Temporal dev server at ${address} did not become ready`,
    });
    const outcome = await readyOrEnded(ready);
    if (outcome !== 'ready') {
      if ('error' in outcome) throw new Error(`Could not run the Temporal CLI at ${opts.binary}: ${outcome.error.message}`);
      throw new Error(`The Temporal dev server ${outcome.exited} before it was ready (${command}).${serverOutput(tail)}`);
    }
  } catch (err) {
    await stop();
    throw err instanceof ReadyTimeout ? new Error(`${err.message} (${command}).${serverOutput(tail)}`) : err;
  }
  if (ownerFile && child.pid) await writeOwnerFile(ownerFile, child.pid);

  const uiUrl = uiPort === undefined ? undefined : `http://${ip}:${uiPort}`;
  return { address, uiUrl, namespace, pid: child.pid ?? -1, stop };
}

/** The ports asked for, if free; free ones otherwise. No Web UI port when it runs headless. */
async function choosePorts(
  ip: string,
  opts: Pick<TemporalDevServerOptions, 'port' | 'uiPort'>,
): Promise<{ port: number; uiPort: number | undefined }> {
  const port = opts.port || (await freePort(ip));
  if (opts.port && (await isPortInUse(ip, port))) {
    throw new Error(`Cannot start the Temporal dev server: port ${port} on ${ip} is already in use.`);
  }
  const uiPort = opts.uiPort === false ? undefined : opts.uiPort || (await freePort(ip));
  if (opts.uiPort && (await isPortInUse(ip, opts.uiPort))) {
    throw new Error(`Cannot start the Temporal Web UI: port ${opts.uiPort} on ${ip} is already in use.`);
  }
  return { port, uiPort };
}

function devServerArgs(
  opts: TemporalDevServerOptions,
  at: { ip: string; port: number; uiPort: number | undefined; namespace: string },
): string[] {
  const args = ['server', 'start-dev', '--ip', at.ip, '--port', String(at.port), '--log-level', 'warn'];
  if (at.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(at.uiPort));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile, '--sqlite-pragma', 'journal_mode=wal');
  if (at.namespace !== 'default') args.push('--namespace', at.namespace);
  for (const [name, type] of Object.entries(opts.searchAttributes)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

function serverOutput(tail: OutputTail): string {
  const text = tail.toString();
  return text ? `\n--- server output (last lines) ---\n${text}` : ' It printed nothing.';
}

/** The frontend answers GetSystemInfo and the namespace exists. */
async function frontendReady(address: string, namespace: string): Promise<void> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

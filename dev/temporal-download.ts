/**
 * Downloads the official Temporal CLI release archive for this OS and architecture, checks it
 * against a SHA-256 pinned here, extracts the `temporal` binary and installs it atomically.
 *
 * Source: the CLI's GitHub release assets (`temporal_cli_<version>_<os>_<arch>.tar.gz`). The
 * Temporal SDK's test server download (@temporalio/core-bridge, sdk-core's ephemeral_server) asks
 * https://temporal.download/cli/<version>?platform=…&arch=… for an archive URL and trusts what it
 * gets; here the archive's hash is pinned in the code instead, so whatever serves the bytes (GitHub,
 * or a mirror named by TEMPORAL_CLI_DOWNLOAD_URL) cannot change them, and no second file
 * (checksums.txt) has to be fetched and trusted.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const execFileAsync = promisify(execFile);

export const TEMPORAL_CLI_RELEASE = '1.5.1';
export const TEMPORAL_CLI_DOWNLOAD_BASE = `https://github.com/temporalio/cli/releases/download/v${TEMPORAL_CLI_RELEASE}`;

/**
 * SHA-256 of each v1.5.1 release archive, from the release's checksums.txt. Windows (a .zip) is not
 * pinned: there the Temporal CLI comes from PATH, TEMPORAL_CLI_PATH or the Go build.
 */
export const TEMPORAL_CLI_SHA256: Readonly<Record<string, string>> = {
  linux_amd64: 'ddc95e08b0b076efd4ea9733a3f488eb7d2be875f8834e616cd2a37358b4852d',
  linux_arm64: 'bd1b0db9f18b051026de8bf6cc1505f2510f14bbb7a8b9a4a91fff46c77454f5',
  darwin_amd64: 'bbb73e2a31135abe50a1f1cdb35030c42961df618e8ce9c60ae89f201540c5d9',
  darwin_arm64: 'cca01b7ea35ad56e2a328d9ae596bf716bd22313ef63c7a761c88354457c2415',
};

export interface ReleaseAsset {
  /** e.g. temporal_cli_1.5.1_linux_amd64.tar.gz */
  name: string;
  sha256: string;
}

/** The release archive for a Node platform and architecture, or why there is none. */
export function releaseAsset(platform: string, arch: string): ReleaseAsset | { unsupported: string } {
  const os = platform === 'linux' || platform === 'darwin' ? platform : undefined;
  const goArch = arch === 'x64' ? 'amd64' : arch === 'arm64' ? 'arm64' : undefined;
  const sha256 = os && goArch ? TEMPORAL_CLI_SHA256[`${os}_${goArch}`] : undefined;
  if (!os || !goArch || !sha256) return { unsupported: `no release archive is pinned for ${platform}/${arch}` };
  return { name: `temporal_cli_${TEMPORAL_CLI_RELEASE}_${os}_${goArch}.tar.gz`, sha256 };
}

/** The download could not be had (no network, no answer in time, an HTTP error, a dropped connection): try the next way. */
export class DownloadUnavailable extends Error {
  override name = 'DownloadUnavailable';
}

/** Bytes arrived but must not be installed (wrong checksum, no binary in the archive, a binary that does not run). */
export class DownloadRefused extends Error {
  override name = 'DownloadRefused';
}

export interface DownloadOptions {
  /** The directory URL holding the archive (TEMPORAL_CLI_DOWNLOAD_URL, else the GitHub release). */
  baseUrl: string;
  asset: ReleaseAsset;
  /** Where the binary goes; created only once a verified binary is ready to move in. */
  binDir: string;
  /** The binary's file name: temporal (temporal.exe on Windows). */
  exe: string;
  log: (line: string) => void;
  /** Longest wait for the server to answer (DNS, connect, response headers). Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest wait between two chunks of the body. Default 30 s. */
  stallTimeoutMs?: number;
}

/** Downloads, verifies and installs the binary; resolves with its path. Leaves nothing behind on failure. */
export async function downloadTemporalCli(opts: DownloadOptions): Promise<string> {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/${opts.asset.name}`;
  const archive = await fetchArchive(url, opts);
  const digest = createHash('sha256').update(archive).digest('hex');
  if (digest !== opts.asset.sha256) {
    throw new DownloadRefused(
      `Refusing the Temporal CLI archive from ${url}: its SHA-256 is ${digest}, but ${opts.asset.sha256} is pinned for ${opts.asset.name}. ` +
        'Nothing was installed. If TEMPORAL_CLI_DOWNLOAD_URL names a mirror, it serves another file; unset it, ' +
        'or install the Temporal CLI yourself and set TEMPORAL_CLI_PATH.',
    );
  }
  const binary = extractFromTarGz(archive, opts.exe, url);
  return install(binary, opts);
}

async function fetchArchive(url: string, opts: DownloadOptions): Promise<Buffer> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new Error(`no answer within ${connectTimeoutMs / 1000} s`)), connectTimeoutMs);
  const unavailable = (why: string) => new DownloadUnavailable(`Temporal CLI download from ${url} failed: ${why}`);
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (error) {
      throw unavailable(reason(error, controller.signal));
    }
    if (!response.ok || !response.body) throw unavailable(`HTTP ${response.status} ${response.statusText}`.trim());
    const total = Number(response.headers.get('content-length')) || undefined;
    opts.log(`downloading ${opts.asset.name} (${total ? mib(total) : 'size unknown'}) from ${new URL(url).host}…`);
    const chunks: Buffer[] = [];
    let received = 0;
    let reported = 0;
    const started = Date.now();
    const reader = response.body.getReader();
    for (;;) {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${stallTimeoutMs / 1000} s`)), stallTimeoutMs);
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw unavailable(
          `the connection dropped after ${mib(received)}${total ? ` of ${mib(total)}` : ''} (${reason(error, controller.signal)})`,
        );
      }
      if (chunk.done) break;
      chunks.push(Buffer.from(chunk.value));
      received += chunk.value.byteLength;
      // Progress every 10 % of a known size, else every 5 MiB.
      const step = total ? total / 10 : 5 * 1024 * 1024;
      if (received - reported >= step && received !== total) {
        reported = received;
        const share = total ? ` (${Math.floor((received / total) * 100)} %)` : '';
        opts.log(`  ${mib(received)}${total ? ` of ${mib(total)}` : ''}${share}, ${seconds(Date.now() - started)}`);
      }
    }
    if (total !== undefined && received !== total) {
      throw unavailable(`the transfer ended after ${mib(received)} of ${mib(total)}`);
    }
    opts.log(`  downloaded ${mib(received)} in ${seconds(Date.now() - started)}`);
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
  }
}

/** The bytes of the regular file named `exe` (at any depth) in a .tar.gz. */
export function extractFromTarGz(archive: Buffer, exe: string, source: string): Buffer {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive);
  } catch (error) {
    throw new DownloadRefused(`The Temporal CLI archive from ${source} is not a gzip file: ${(error as Error).message}`);
  }
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const dataStart = offset + 512;
    const data = tar.subarray(dataStart, dataStart + size);
    if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if ((type === '0' || type === '7') && path.posix.basename(name) === exe) return Buffer.from(data);
    offset = dataStart + Math.ceil(size / 512) * 512;
  }
  throw new DownloadRefused(`The Temporal CLI archive from ${source} holds no file named ${exe}.`);
}

/** Writes the binary next to its final place, checks that it runs, then renames it into place. */
async function install(binary: Buffer, opts: DownloadOptions): Promise<string> {
  await mkdir(opts.binDir, { recursive: true });
  const target = path.join(opts.binDir, opts.exe);
  const staging = path.join(opts.binDir, `.${opts.exe}.${process.pid}.download`);
  try {
    await writeFile(staging, binary, { mode: 0o755 });
    await chmod(staging, 0o755);
    const version = await runVersion(staging).catch((error: unknown) => {
      throw new DownloadRefused(`The downloaded Temporal CLI does not run here (\`temporal --version\`: ${(error as Error).message}).`);
    });
    await rename(staging, target);
    opts.log(`installed ${version} at ${target}`);
    return target;
  } finally {
    await rm(staging, { force: true });
  }
}

/** `temporal --version`'s first line; rejects if it does not run within 20 s. */
export async function runVersion(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 20_000 });
  return stdout.trim().split('\n')[0] ?? '';
}

function reason(error: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const err = error as Error & { cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message}: ${cause}` : err.message;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

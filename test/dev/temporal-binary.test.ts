/**
 * Getting the Temporal CLI without Go: the release archive from a local HTTP server (standing in
 * for GitHub or a mirror named by TEMPORAL_CLI_DOWNLOAD_URL) is installed only with the pinned
 * checksum and a binary that runs; a wrong checksum or a dropped connection installs nothing; an
 * unreachable server falls through to the Go build (a fake `go` on a PATH of the test's own).
 */
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveTemporalBinary } from '../../dev/temporal-binary';
import {
  DownloadRefused,
  DownloadUnavailable,
  downloadTemporalCli,
  releaseAsset,
  runVersion,
  TEMPORAL_CLI_SHA256,
} from '../../dev/temporal-download';
import { freePort } from '../../dev/processes';

const execFileAsync = promisify(execFile);
const ASSET = 'temporal_cli_1.5.1_linux_amd64.tar.gz';

let dir: string;
let servers: http.Server[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'temporal-cli-'));
  servers = [];
});

afterEach(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

/** A release archive like Temporal's: LICENSE, a 2 MiB file that does not compress, and a `temporal` that prints its version. */
async function fakeArchive(version = 'temporal version 1.5.1 (test)'): Promise<Buffer> {
  const content = path.join(dir, 'archive-content');
  await mkdir(content, { recursive: true });
  await writeFile(path.join(content, 'LICENSE'), 'MIT\n');
  await writeFile(path.join(content, 'padding.bin'), randomBytes(2 * 1024 * 1024));
  await writeFile(path.join(content, 'temporal'), `#!/bin/sh\necho "${version}"\n`, { mode: 0o755 });
  const archive = path.join(dir, ASSET);
  await execFileAsync('tar', ['-czf', archive, '-C', content, 'LICENSE', 'padding.bin', 'temporal']);
  return readFile(archive);
}

/** Serves `archive` at /releases/<ASSET>; `dropAfter` bytes then cuts the connection, having promised all of it. */
async function serve(archive: Buffer, opts: { dropAfter?: number } = {}): Promise<{ base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url !== `/releases/${ASSET}`) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': archive.length });
    if (opts.dropAfter === undefined) {
      // In pieces, as a network delivers it.
      for (let at = 0; at < archive.length; at += 64 * 1024) res.write(archive.subarray(at, at + 64 * 1024));
      res.end();
      return;
    }
    res.write(archive.subarray(0, opts.dropAfter), () => res.socket?.destroy());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}/releases`, requests };
}

/**
 * A PATH holding only a fake `go`: `go install -v …` names two packages and writes a `temporal`
 * into $GOBIN. It waits for `go-on` when asked to, so a heartbeat can be seen while it "builds".
 */
async function fakeGoPath(opts: { waitForFile?: string } = {}): Promise<{ path: string; ran: string }> {
  const bin = path.join(dir, 'fake-go-bin');
  const ran = path.join(dir, 'go-ran');
  await mkdir(bin, { recursive: true });
  const wait = opts.waitForFile ? `while [ ! -e "${opts.waitForFile}" ]; do sleep 0.05; done\n` : '';
  await writeFile(
    path.join(bin, 'go'),
    `#!/bin/sh\nPATH=/usr/bin:/bin\necho "$@" > "${ran}"\necho "go: downloading go.temporal.io/server v1.29.1" >&2\necho "go.temporal.io/server/common" >&2\n${wait}echo "github.com/temporalio/cli/cmd/temporal" >&2\nprintf '#!/bin/sh\\necho "temporal version 1.5.1 (built with go)"\\n' > "$GOBIN/temporal"\nchmod +x "$GOBIN/temporal"\n`,
    { mode: 0o755 },
  );
  await chmod(path.join(bin, 'go'), 0o755);
  return { path: bin, ran };
}

/** Every entry under `root`, relative: what a failed install left behind. */
async function listAll(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true });
  return entries.map(String).sort();
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('the release download', () => {
  it('pins a checksum for each Linux and macOS archive, and none for a platform it does not know', () => {
    expect(releaseAsset('linux', 'x64')).toEqual({ name: ASSET, sha256: TEMPORAL_CLI_SHA256.linux_amd64 });
    expect(releaseAsset('darwin', 'arm64')).toMatchObject({ name: 'temporal_cli_1.5.1_darwin_arm64.tar.gz' });
    expect(releaseAsset('win32', 'x64')).toHaveProperty('unsupported');
    expect(releaseAsset('linux', 'ia32')).toHaveProperty('unsupported');
    for (const digest of Object.values(TEMPORAL_CLI_SHA256)) expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('installs the archive with the right checksum, atomically, reporting progress, and the binary runs', async () => {
    const archive = await fakeArchive();
    const { base } = await serve(archive);
    const toolsDir = path.join(dir, 'tools');
    const lines: string[] = [];
    const binary = await downloadTemporalCli({
      baseUrl: base,
      asset: { name: ASSET, sha256: sha256(archive) },
      binDir: path.join(toolsDir, 'bin'),
      exe: 'temporal',
      log: (line) => lines.push(line),
    });
    expect(binary).toBe(path.join(toolsDir, 'bin', 'temporal'));
    expect(await runVersion(binary)).toBe('temporal version 1.5.1 (test)');
    // Only the binary: no staging file, no archive.
    expect(await listAll(toolsDir)).toEqual(['bin', 'bin/temporal']);
    expect(lines[0]).toMatch(/^downloading temporal_cli_1\.5\.1_linux_amd64\.tar\.gz \(2\.\d MiB\) from 127\.0\.0\.1:\d+…$/);
    expect(lines.some((line) => /MiB of 2\.\d MiB \(\d+ %\)/.test(line))).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}downloaded 2\.\d MiB in/));
  });

  it('refuses an archive whose checksum is not the pinned one, installs nothing and does not fall back to Go', async () => {
    const { base } = await serve(await fakeArchive());
    const toolsDir = path.join(dir, 'tools');
    const go = await fakeGoPath();
    const attempt = resolveTemporalBinary({
      env: { PATH: go.path, TEMPORAL_CLI_DOWNLOAD_URL: base },
      toolsDir,
      platform: 'linux',
      arch: 'x64',
      log: () => undefined,
    });
    await expect(attempt).rejects.toThrow(DownloadRefused);
    await expect(attempt).rejects.toThrow(
      new RegExp(
        `Refusing the Temporal CLI archive from ${base}/${ASSET}: its SHA-256 is [0-9a-f]{64}, but ${TEMPORAL_CLI_SHA256.linux_amd64} is pinned`,
      ),
    );
    expect(await listAll(toolsDir)).toEqual([]);
    expect(existsSync(go.ran)).toBe(false);
  });

  it('refuses a partial download (the connection dropped) and installs nothing', async () => {
    const archive = await fakeArchive();
    const { base } = await serve(archive, { dropAfter: 300 * 1024 });
    const toolsDir = path.join(dir, 'tools');
    const attempt = downloadTemporalCli({
      baseUrl: base,
      asset: { name: ASSET, sha256: sha256(archive) },
      binDir: path.join(toolsDir, 'bin'),
      exe: 'temporal',
      log: () => undefined,
    });
    await expect(attempt).rejects.toThrow(DownloadUnavailable);
    await expect(attempt).rejects.toThrow(/connection dropped after 0\.\d MiB of 2\.\d MiB|transfer ended after/);
    expect(await listAll(toolsDir)).toEqual([]);
  });

  it('refuses an archive without a temporal binary in it', async () => {
    const notTar = gzipSync(Buffer.alloc(2048)); // an empty tar: two zero blocks
    const { base } = await serve(notTar);
    const attempt = downloadTemporalCli({
      baseUrl: base,
      asset: { name: ASSET, sha256: sha256(notTar) },
      binDir: path.join(dir, 'tools', 'bin'),
      exe: 'temporal',
      log: () => undefined,
    });
    await expect(attempt).rejects.toThrow(/holds no file named temporal/);
    expect(await listAll(path.join(dir, 'tools'))).toEqual([]);
  });
});

describe('resolving the Temporal CLI', () => {
  it('falls through to the Go build when the download server cannot be reached, with a heartbeat while it builds', async () => {
    const toolsDir = path.join(dir, 'tools');
    const goOn = path.join(dir, 'go-on');
    const go = await fakeGoPath({ waitForFile: goOn });
    const closedPort = await freePort();
    const lines: string[] = [];
    const started = Date.now();
    const binary = await resolveTemporalBinary({
      env: { PATH: go.path, TEMPORAL_CLI_DOWNLOAD_URL: `http://127.0.0.1:${closedPort}/releases` },
      toolsDir,
      platform: 'linux',
      arch: 'x64',
      heartbeatMs: 50,
      log: (line) => {
        lines.push(line);
        // The fake build finishes once a heartbeat has reported it.
        if (line.startsWith('  go build:')) void writeFile(goOn, '');
      },
    });
    expect(binary).toBe(path.join(toolsDir, 'bin', 'temporal'));
    expect(await runVersion(binary)).toBe('temporal version 1.5.1 (built with go)');
    expect(lines[0]).toMatch(
      new RegExp(
        `^Temporal CLI download from http://127\\.0\\.0\\.1:${closedPort}/releases/${ASSET} failed: .*ECONNREFUSED.*; building it with Go instead$`,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}go build: \d+ s, 1 modules downloaded, 1 packages compiled \(last: go\.temporal\.io\/server\/common\)$/),
    );
    expect(lines.at(-1)).toMatch(/^built temporal version 1\.5\.1 \(built with go\) in \d+ s$/);
    expect(Date.now() - started).toBeLessThan(15_000);
    // The build ran `go install -v` with the pinned module version; nothing but the binary stays.
    expect((await readFile(go.ran, 'utf8')).trim()).toBe('install -v github.com/temporalio/cli/cmd/temporal@v1.5.1');
    expect(await listAll(toolsDir)).toEqual(['bin', 'bin/temporal']);
  });

  it('falls through to the Go build after a dropped connection', async () => {
    const archive = await fakeArchive();
    const { base, requests } = await serve(archive, { dropAfter: 100 * 1024 });
    const go = await fakeGoPath();
    const lines: string[] = [];
    const binary = await resolveTemporalBinary({
      env: { PATH: go.path, TEMPORAL_CLI_DOWNLOAD_URL: base },
      toolsDir: path.join(dir, 'tools'),
      platform: 'linux',
      arch: 'x64',
      log: (line) => lines.push(line),
    });
    expect(requests).toEqual([`/releases/${ASSET}`]);
    expect(lines).toContainEqual(expect.stringMatching(/connection dropped after .*; building it with Go instead$/));
    expect(await runVersion(binary)).toBe('temporal version 1.5.1 (built with go)');
  });

  it('takes TEMPORAL_CLI_PATH, then PATH, then the tool folder, before downloading anything', async () => {
    const toolsDir = path.join(dir, 'tools');
    const onPath = path.join(dir, 'on-path');
    await mkdir(path.join(toolsDir, 'bin'), { recursive: true });
    await mkdir(onPath, { recursive: true });
    const script = '#!/bin/sh\necho "temporal version 1.5.1"\n';
    for (const file of [path.join(toolsDir, 'bin', 'temporal'), path.join(onPath, 'temporal'), path.join(dir, 'explicit')]) {
      await writeFile(file, script, { mode: 0o755 });
    }
    const { base, requests } = await serve(Buffer.alloc(0));
    const resolve = (env: NodeJS.ProcessEnv) =>
      resolveTemporalBinary({ env: { TEMPORAL_CLI_DOWNLOAD_URL: base, ...env }, toolsDir, log: () => undefined });
    expect(await resolve({ TEMPORAL_CLI_PATH: path.join(dir, 'explicit'), PATH: onPath })).toBe(path.join(dir, 'explicit'));
    expect(await resolve({ PATH: onPath })).toBe(path.join(onPath, 'temporal'));
    expect(await resolve({ PATH: path.join(dir, 'nothing-here') })).toBe(path.join(toolsDir, 'bin', 'temporal'));
    await expect(resolve({ TEMPORAL_CLI_PATH: path.join(dir, 'missing') })).rejects.toThrow(
      /TEMPORAL_CLI_PATH=.*missing is not an executable file/,
    );
    expect(requests).toEqual([]);
  });

  it('says why when neither the download nor Go is available', async () => {
    const closedPort = await freePort();
    const lines: string[] = [];
    const attempt = resolveTemporalBinary({
      env: { PATH: path.join(dir, 'empty'), TEMPORAL_CLI_DOWNLOAD_URL: `http://127.0.0.1:${closedPort}` },
      toolsDir: path.join(dir, 'tools'),
      platform: 'linux',
      arch: 'x64',
      log: (line) => lines.push(line),
    });
    await expect(attempt).rejects.toThrow(/release download could not be had \(see above\).*`go` was not found on PATH/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^building Temporal CLI v1\.5\.1 with Go/);
    expect(await listAll(path.join(dir, 'tools'))).toEqual([]);
  });
});

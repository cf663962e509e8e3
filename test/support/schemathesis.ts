/**
 * Schemathesis (the OpenAPI fuzzer, from PyPI), installed once into a virtual environment under
 * .tools/ at a pinned version, like the Temporal CLI: a fresh machine needs only Python 3.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SCHEMATHESIS_VERSION = '4.32.5';
const VENV = path.resolve(__dirname, '../../.tools/schemathesis');
const BINARY = path.join(VENV, 'bin', 'schemathesis');

async function installedVersion(): Promise<string | undefined> {
  try {
    await access(BINARY);
    const { stdout } = await run(BINARY, ['--version']);
    return /version (\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** The path of the schemathesis command, installing it first if it is missing or another version. */
export async function ensureSchemathesis(): Promise<string> {
  if ((await installedVersion()) === SCHEMATHESIS_VERSION) return BINARY;
  const python = process.env.PYTHON ?? 'python3';
  await run(python, ['-m', 'venv', '--clear', VENV]);
  await run(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`], { timeout: 600_000 });
  const version = await installedVersion();
  if (version !== SCHEMATHESIS_VERSION)
    throw new Error(`schemathesis ${SCHEMATHESIS_VERSION} did not install into ${VENV} (found ${version})`);
  return BINARY;
}

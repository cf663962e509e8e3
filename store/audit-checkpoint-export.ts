/**
 * The checkpoint export file: every checkpoint a worker writes, one RFC 8785 JSON line each,
 * appended after it is stored. It lives outside the database (ship it to write-once storage), so
 * an insider who rewrites the database must also rewrite every copy of this file.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AuditCheckpoint, checkpointLine, type CheckpointExport } from './audit-checkpoints';

export async function appendCheckpointExport(file: string, checkpoint: AuditCheckpoint): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await appendFile(file, `${checkpointLine(checkpoint)}\n`, { encoding: 'utf8' });
}

/** The file's checkpoints by line (a line that is not one says why), or why the file cannot be read. */
export async function readCheckpointExport(file: string): Promise<CheckpointExport> {
  const lines: Extract<CheckpointExport, { state: 'available' }>['lines'] = [];
  try {
    const reader = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY });
    let line = 0;
    for await (const text of reader) {
      line++;
      if (text.trim() === '') continue;
      lines.push({ line, checkpoint: parseLine(text) });
    }
  } catch (error) {
    return { path: file, state: 'unavailable', reason: (error as Error).message };
  }
  return { path: file, state: 'available', lines };
}

function parseLine(text: string): AuditCheckpoint | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const parsed = AuditCheckpoint.safeParse(raw);
  return parsed.success ? parsed.data : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

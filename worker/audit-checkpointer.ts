/**
 * The worker's audit checkpointer: every interval (and once more when it stops) it writes a signed
 * checkpoint over the audit subjects that changed since the last one, then appends it to the
 * export file. Stored first, exported second: a line in the file is always a checkpoint the
 * database had. A round that fails is logged and the next one covers its subjects.
 */
import { appendCheckpointExport } from '../store/audit-checkpoint-export';
import { writeCheckpoint, type AuditCheckpoint, type AuditSigningKey } from '../store/audit-checkpoints';
import type { Pool } from '../store/pool';

export interface AuditCheckpointerOptions {
  pool: Pool;
  key: AuditSigningKey;
  intervalMs: number;
  exportFile: string;
  log?: (message: string) => void;
}

export interface AuditCheckpointer {
  /** Writes a checkpoint now (after any round in progress); undefined when nothing changed. */
  runOnce(): Promise<AuditCheckpoint | undefined>;
  /** Stops the timer, then writes a last checkpoint so nothing written before the stop is left unanchored. */
  stop(): Promise<void>;
}

export function startAuditCheckpointer(options: AuditCheckpointerOptions): AuditCheckpointer {
  const log = options.log ?? (() => undefined);
  let last: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const runOnce = (): Promise<AuditCheckpoint | undefined> => {
    const round = last
      .catch(() => undefined)
      .then(async () => {
        const checkpoint = await writeCheckpoint(options.pool, options.key);
        if (checkpoint) await appendCheckpointExport(options.exportFile, checkpoint);
        return checkpoint;
      });
    last = round;
    return round;
  };
  const logged = async () => {
    try {
      await runOnce();
    } catch (error) {
      log(`audit checkpoint failed (the next one covers its subjects): ${(error as Error).message}`);
    }
  };
  const tick = async () => {
    await logged();
    if (!stopped) timer = setTimeout(tick, options.intervalMs);
  };
  timer = setTimeout(tick, options.intervalMs);

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await logged();
    },
  };
}

/**
 * The worker's structured logs: the Temporal SDK's logger (its own lines, and every workflow's and
 * activity's `log` calls, with `workflowId`, `runId` and the rest of their context) written as pino
 * JSON lines, with `refundId` on every line about a refund (read from its workflow id,
 * `refund-<refundId>`), and never an activity's task token. Installed once per process with `Runtime.install({ logger })`.
 */
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import pino from 'pino';
import { baseLoggerOptions, type LogOptions } from '../config/logging';
import { refundIdOfWorkflowId } from '../workflows/messages';

export function createWorkerLogger(options: LogOptions = {}): pino.Logger {
  const settings = { ...baseLoggerOptions(options), base: { process: 'worker', pid: process.pid } };
  return options.stream ? pino(settings, options.stream) : pino(settings);
}

const levels: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** The SDK's Logger on top of a pino logger. */
export function sdkLogger(logger: pino.Logger): Logger {
  const log = (level: LogLevel, message: string, meta: LogMetadata = {}) => {
    // An activity's task token completes it from anywhere: it never goes to a log.
    const { error, taskToken: _taskToken, ...rest } = meta as LogMetadata & { error?: unknown; taskToken?: unknown };
    const { workflowId, workflowRunId } = rest;
    const refundId = typeof workflowId === 'string' ? refundIdOfWorkflowId(workflowId) : undefined;
    logger[levels[level] ?? 'info'](
      {
        ...rest,
        // Activities name their workflow's run workflowRunId; every line says runId.
        ...(rest.runId === undefined && workflowRunId !== undefined ? { runId: workflowRunId } : {}),
        ...(refundId ? { refundId } : {}),
        ...(error !== undefined ? { err: error } : {}),
      },
      message,
    );
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * What the `refunds` and `refunds-admin` commands share: exit codes, --json output, and how a
 * failure is reported and turned into an exit code.
 *
 * Exit codes: 0 ok, 1 unexpected failure, 2 usage or invalid input, 3 refused (403/409),
 * 4 not found, 5 not authenticated.
 */
import { type Command, CommanderError } from 'commander';
import { InvalidInputError } from '../errors';
import { RefundApiError } from '../refunds-api-client';

export const EXIT = { ok: 0, unexpected: 1, usage: 2, refused: 3, notFound: 4, unauthenticated: 5 } as const;

export const EXIT_CODES_HELP = 'Exit codes: 0 ok, 1 unexpected, 2 usage or invalid input, 3 refused, 4 not found, 5 not authenticated.';

export class UsageError extends Error {}

let jsonOutput = false;

/** Adds `--json`: the command's output, and its failure, are then JSON for scripts. */
export function jsonOption(program: Command): Command {
  program.option('--json', 'print JSON for scripts instead of tables');
  program.hook('preAction', () => {
    jsonOutput = Boolean(program.opts<{ json?: boolean }>().json);
  });
  return program;
}

export function print(json: unknown, human: () => string): void {
  process.stdout.write(`${jsonOutput ? JSON.stringify(json, null, 2) : human()}\n`);
}

function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof InvalidInputError) return EXIT.usage;
  if (error instanceof RefundApiError) {
    if (error.status === 401) return EXIT.unauthenticated;
    if (error.status === 403 || error.status === 409) return EXIT.refused;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 400 || error.status === 413 || error.status === 415 || error.status === 422) return EXIT.usage;
  }
  return EXIT.unexpected;
}

function report(command: string, error: unknown): void {
  if (jsonOutput) {
    const body =
      error instanceof RefundApiError
        ? { ...(error.problem ?? { detail: error.message }), status: error.status }
        : error instanceof InvalidInputError
          ? { detail: error.message, errors: error.issues }
          : { detail: error instanceof Error ? error.message : String(error) };
    process.stderr.write(`${JSON.stringify({ error: body }, null, 2)}\n`);
    return;
  }
  const issues = error instanceof RefundApiError ? error.problem?.errors : error instanceof InvalidInputError ? error.issues : undefined;
  const headline =
    error instanceof RefundApiError && error.problem && issues?.length
      ? error.problem.title
      : error instanceof InvalidInputError
        ? `invalid ${error.what}`
        : undefined;
  const lines = [`${command}: ${headline ?? (error instanceof Error ? error.message : String(error))}`];
  if (error instanceof RefundApiError && error.problem?.rule) lines.push(`  rule: ${error.problem.rule}`);
  for (const issue of issues ?? []) lines.push(`  ${issue.path || '(body)'}: ${issue.message}`);
  if (error instanceof TypeError && /fetch failed/.test(error.message)) {
    lines.push(
      `  cannot reach the refund API (${(error.cause as Error | undefined)?.message ?? 'connection failed'}); is it running? Set REFUNDS_API_URL.`,
    );
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}

// `refunds ... | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

/**
 * Runs `program` on `argv` and returns the exit code; a failure is reported on stderr.
 * `exitCode` maps the program's own errors, before the shared ones.
 */
export async function runCli(
  program: Command,
  argv: string[],
  exitCode: (error: unknown) => number | undefined = () => undefined,
): Promise<number> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    report(program.name(), error);
    return exitCode(error) ?? exitCodeFor(error);
  }
}

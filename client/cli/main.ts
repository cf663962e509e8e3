/**
 * `refunds`: the command line for the people around a refund (request, carrier-event, scan,
 * approve, reject, cancel, show, stuck, audit verify, breaker, alerts). Every command goes through
 * the HTTP API with the caller's API key, so the API decides who they are. Administrators manage
 * those keys with `refunds-admin` (store/principals-cli.ts), which talks to the database.
 * Exit codes: client/cli/runtime.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { readLocalStack } from '../../config/local-stack';
import { refundStates } from '../../workflows/refund-model';
import { CarrierStatus, ItemCondition, type WarehouseReceipt } from '../../workflows/schemas';
import { RefundsApiClient } from '../refunds-api-client';
import { showAlerts, showBreakers, showRefund, showStuck, when } from './output';
import { EXIT, EXIT_CODES_HELP, jsonOption, print, runCli, UsageError } from './runtime';

interface GlobalOptions {
  apiUrl?: string;
}

async function apiClient(options: GlobalOptions): Promise<RefundsApiClient> {
  const baseUrl = options.apiUrl ?? process.env.REFUNDS_API_URL ?? (await readLocalStack())?.apiUrl ?? 'http://127.0.0.1:3000';
  if (!URL.canParse(baseUrl)) throw new UsageError(`REFUNDS_API_URL must be a URL such as http://127.0.0.1:3000, not ${JSON.stringify(baseUrl)}`);
  return new RefundsApiClient({
    baseUrl,
    ...(process.env.REFUNDS_API_KEY ? { apiKey: process.env.REFUNDS_API_KEY } : {}),
    ...(process.env.CARRIER_WEBHOOK_SECRET ? { carrierWebhookSecret: process.env.CARRIER_WEBHOOK_SECRET } : {}),
  });
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file === '-' ? 'standard input' : file} is not valid JSON: ${(error as Error).message}`);
  }
}

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
};

/** `--item "SKU CONDITION [SERIAL]"`: ids never contain spaces, so the parts cannot be confused. */
function receiptItem(value: string, items: WarehouseReceipt['items'] = []): WarehouseReceipt['items'] {
  const [sku, condition, serialNumber, ...rest] = value.trim().split(/\s+/);
  const conditions = ItemCondition.options;
  if (!sku || !condition || rest.length > 0 || !conditions.includes(condition as never)) {
    throw new UsageError(`--item must be "SKU CONDITION [SERIAL]" with CONDITION one of ${conditions.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return [...items, { sku, condition: condition as WarehouseReceipt['items'][number]['condition'], ...(serialNumber ? { serialNumber } : {}) }];
}

export function buildProgram(): Command {
  const program = jsonOption(new Command('refunds'))
    .description('Refund approvals: request, evidence, approvals and operations')
    .option('--api-url <url>', 'the refund API (default: REFUNDS_API_URL, the local npm start stack, or http://127.0.0.1:3000)')
    .addHelpText(
      'after',
      '\nEnvironment: REFUNDS_API_URL, REFUNDS_API_KEY (your API key), CARRIER_WEBHOOK_SECRET (carrier-event).\n' +
        'API principals and their keys: refunds-admin principal --help.\n' +
        EXIT_CODES_HELP,
    )
    .showSuggestionAfterError()
    .exitOverride();
  const api = () => apiClient(program.opts<GlobalOptions>());

  program
    .command('request')
    .description('request a refund (refund services); the body is the refund request as JSON')
    .argument('<file>', "a JSON file, or - for standard input")
    .action(async (file: string) => {
      const { created, refund } = await (await api()).requestRefund((await readJson(file)) as never);
      print({ created, refund }, () => `${created ? 'Requested' : 'Already requested:'} refund ${refund.refundId}, ${refund.state}`);
    });

  program
    .command('carrier-event')
    .description('report a carrier tracking event, signed with CARRIER_WEBHOOK_SECRET as a carrier would')
    .requiredOption('--carrier <carrier>', 'carrier name, e.g. ups')
    .requiredOption('--tracking <number>', 'tracking number of the return parcel')
    .addOption(new Option('--status <status>', 'tracking status').choices(CarrierStatus.options).makeOptionMandatory())
    .option('--event-id <id>', "the carrier's event id (default: a new one)")
    .option('--occurred-at <time>', 'when it happened, ISO 8601 (default: now)')
    .option('--facility <id>', 'facility id')
    .option('--weight <grams>', 'parcel weight in grams', integer('--weight'))
    .action(async (options: { carrier: string; tracking: string; status: string; eventId?: string; occurredAt?: string; facility?: string; weight?: number }) => {
      if (!process.env.CARRIER_WEBHOOK_SECRET) throw new UsageError('CARRIER_WEBHOOK_SECRET must be set to sign carrier events');
      const event = {
        eventId: options.eventId ?? `cli-${randomBytes(6).toString('hex')}`,
        carrier: options.carrier,
        trackingNumber: options.tracking,
        status: options.status as never,
        occurredAt: options.occurredAt ?? new Date().toISOString(),
        ...(options.facility ? { facilityId: options.facility } : {}),
        ...(options.weight !== undefined ? { weightGrams: options.weight } : {}),
      };
      const routed = await (await api()).sendCarrierEvent(event);
      print({ eventId: event.eventId, ...routed }, () => `Event ${event.eventId} sent to refund ${routed.refundIds.join(', ')}`);
    });

  program
    .command('scan')
    .description('record a warehouse receipt scan (warehouse staff); you are the scanner')
    .argument('<refundId>')
    .requiredOption('--warehouse <id>', 'warehouse id')
    .requiredOption('--weight <grams>', 'parcel weight in grams', integer('--weight'))
    .requiredOption('--item <"SKU CONDITION [SERIAL]">', `an item found in the parcel (repeat for each); CONDITION: ${ItemCondition.options.join(', ')}`, receiptItem)
    .option('--event-id <id>', 'scan id (default: a new one)')
    .option('--scanned-at <time>', 'ISO 8601 (default: now)')
    .action(async (refundId: string, options: { warehouse: string; weight: number; item: WarehouseReceipt['items']; eventId?: string; scannedAt?: string }) => {
      const receipt = {
        eventId: options.eventId ?? `scan-${randomBytes(6).toString('hex')}`,
        warehouseId: options.warehouse,
        items: options.item,
        weightGrams: options.weight,
        scannedAt: options.scannedAt ?? new Date().toISOString(),
      };
      const accepted = await (await api()).recordWarehouseScan(refundId, receipt);
      print(accepted, () => `Scan ${accepted.eventId} recorded for refund ${refundId}`);
    });

  const decided = (refund: Awaited<ReturnType<RefundsApiClient['getRefund']>>) =>
    `Refund ${refund.refundId} is ${refund.state}${refund.state === 'awaiting_approval' ? `, ${refund.approvalsStillNeeded} more approval(s) needed` : ''}`;
  // Decisions on a refund, each taken as the caller and answered with the refund's new state.
  const decisions = [
    { name: 'approve', description: 'approve a refund (approvers); you are the approver', reasonRequired: false, act: (c: RefundsApiClient, id: string, reason?: string) => c.approve(id, reason) },
    { name: 'reject', description: 'reject a refund (approvers)', reasonRequired: true, act: (c: RefundsApiClient, id: string, reason?: string) => c.reject(id, reason!) },
    { name: 'cancel', description: 'cancel a refund before payout (refund services, operations)', reasonRequired: true, act: (c: RefundsApiClient, id: string, reason?: string) => c.cancel(id, reason!) },
  ];
  for (const { name, description, reasonRequired, act } of decisions) {
    const command = program.command(name).description(description).argument('<refundId>');
    (reasonRequired ? command.requiredOption('--reason <text>', 'why') : command.option('--reason <text>', 'why')).action(
      async (refundId: string, options: { reason?: string }) => {
        const refund = await act(await api(), refundId, options.reason);
        print(refund, () => decided(refund));
      },
    );
  }

  program
    .command('show')
    .description('show a refund: state, amount, evidence, risk, approvals, payout, deadlines, timeline')
    .argument('<refundId>')
    .action(async (refundId: string) => {
      const refund = await (await api()).getRefund(refundId);
      print(refund, () => showRefund(refund));
    });

  program
    .command('stuck')
    .description('refunds waiting too long, oldest first (operations)')
    .option('--older-than <duration>', "ISO 8601 duration such as PT2H or P3D (default: past each state's own limit)")
    .addOption(new Option('--state <state...>', 'only these states').choices(refundStates))
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .action(async (options: { olderThan?: string; state?: Array<(typeof refundStates)[number]>; limit?: number }) => {
      const refunds = await (await api()).listStuck({
        ...(options.olderThan ? { olderThan: options.olderThan } : {}),
        ...(options.state ? { states: options.state } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
      });
      print({ refunds }, () => showStuck(refunds));
    });

  program
    .command('audit')
    .description('the audit trail')
    .command('verify')
    .description('recompute the whole audit hash chain (operations, admins)')
    .action(async () => {
      const result = await (await api()).verifyAudit();
      print(result, () =>
        result.ok
          ? `Audit trail verified: ${result.rowsChecked} rows, last hash ${result.lastHash}`
          : `AUDIT TRAIL BROKEN at row ${result.brokenAt?.seq} (refund ${result.brokenAt?.refundId}): ${result.brokenAt?.reason}`,
      );
      if (!result.ok) process.exitCode = EXIT.unexpected;
    });

  const breaker = program.command('breaker').description("employees' circuit breakers");
  breaker
    .command('lift')
    .description("lift an employee's tripped breaker (admins; you are the one lifting it, and it is audited)")
    .argument('<employeeId>')
    .requiredOption('--reason <text>', 'why it is safe to lift')
    .action(async (employeeId: string, options: { reason: string }) => {
      const lifted = await (await api()).liftBreaker(employeeId, options.reason);
      print(lifted, () => `Breaker of ${lifted.employeeId} (${lifted.reason}) lifted by ${lifted.liftedBy} at ${when(lifted.liftedAt)}`);
    });
  breaker
    .command('list')
    .description("an employee's breakers, newest first (operations, admins)")
    .argument('<employeeId>')
    .action(async (employeeId: string) => {
      const breakers = await (await api()).breakers(employeeId);
      print({ breakers }, () => showBreakers(employeeId, breakers));
    });

  program
    .command('alerts')
    .description('operations alerts not yet delivered, oldest first (operations)')
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .action(async (options: { limit?: number }) => {
      const alerts = await (await api()).undeliveredAlerts(options.limit);
      print({ alerts }, () => showAlerts(alerts));
    });

  return program;
}

process.exitCode = await runCli(buildProgram(), process.argv.slice(2));

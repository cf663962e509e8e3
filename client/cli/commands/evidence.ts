/** Evidence for a refund: a carrier's tracking event and the warehouse's receipt scan. */
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import { CarrierStatus, ItemCondition, type WarehouseReceipt } from '../../../workflows/schemas';
import { carrierKeyFromEnv, integer, type Api } from '../input';
import { print, UsageError } from '../runtime';
import type { CarrierEventAccepted } from '../../views';

/** `--item "SKU CONDITION [SERIAL]"`: ids never contain spaces, so the parts cannot be confused. */
function receiptItem(value: string, items: WarehouseReceipt['items'] = []): WarehouseReceipt['items'] {
  const [sku, condition, serialNumber, ...rest] = value.trim().split(/\s+/);
  const conditions = ItemCondition.options;
  if (!sku || !condition || rest.length > 0 || !conditions.includes(condition as never)) {
    throw new UsageError(
      `--item must be "SKU CONDITION [SERIAL]" with CONDITION one of ${conditions.join(', ')}; got ${JSON.stringify(value)}`,
    );
  }
  return [
    ...items,
    { sku, condition: condition as WarehouseReceipt['items'][number]['condition'], ...(serialNumber ? { serialNumber } : {}) },
  ];
}

function describeCarrierEvent(accepted: CarrierEventAccepted): string {
  const finished = accepted.finishedRefundIds.length ? ` (finished, unchanged: ${accepted.finishedRefundIds.join(', ')})` : '';
  if (accepted.pending)
    return `Event ${accepted.eventId} stored; no refund waits for this parcel yet: it is delivered when one is requested`;
  return `Event ${accepted.eventId} delivered to refund ${accepted.refundIds.join(', ') || '-'}${finished}`;
}

function registerCarrierEvent(program: Command, api: Api): void {
  program
    .command('carrier-event')
    .description('report a carrier tracking event, signed as that carrier would with its key (CARRIER_KEY_ID, CARRIER_WEBHOOK_SECRET)')
    .requiredOption('--carrier <carrier>', 'carrier name, e.g. ups')
    .requiredOption('--tracking <number>', 'tracking number of the return parcel')
    .addOption(new Option('--status <status>', 'tracking status').choices(CarrierStatus.options).makeOptionMandatory())
    .option('--event-id <id>', "the carrier's event id (default: a new one)")
    .option('--occurred-at <time>', 'when it happened, ISO 8601 (default: now)')
    .option('--facility <id>', 'facility id')
    .option('--weight <grams>', 'parcel weight in grams', integer('--weight'))
    .action(
      async (options: {
        carrier: string;
        tracking: string;
        status: string;
        eventId?: string;
        occurredAt?: string;
        facility?: string;
        weight?: number;
      }) => {
        const carrierKey = carrierKeyFromEnv(options.carrier);
        const event = {
          eventId: options.eventId ?? `cli-${randomBytes(6).toString('hex')}`,
          carrier: options.carrier,
          trackingNumber: options.tracking,
          status: options.status as never,
          occurredAt: options.occurredAt ?? new Date().toISOString(),
          ...(options.facility ? { facilityId: options.facility } : {}),
          ...(options.weight !== undefined ? { weightGrams: options.weight } : {}),
        };
        const routed = await (await api({ carrierKey })).sendCarrierEvent(event);
        print(routed, () => describeCarrierEvent(routed));
      },
    );
}

function registerScan(program: Command, api: Api): void {
  program
    .command('scan')
    .description('record a warehouse receipt scan (warehouse staff): signed with your key (REFUNDS_SIGNING_KEY); you are the scanner')
    .argument('<refundId>')
    .requiredOption('--warehouse <id>', 'warehouse id')
    .requiredOption('--weight <grams>', 'parcel weight in grams', integer('--weight'))
    .requiredOption(
      '--item <"SKU CONDITION [SERIAL]">',
      `an item found in the parcel (repeat for each); CONDITION: ${ItemCondition.options.join(', ')}`,
      receiptItem,
    )
    .option('--event-id <id>', 'scan id (default: a new one)')
    .option('--scanned-at <time>', 'ISO 8601 (default: now)')
    .action(
      async (
        refundId: string,
        options: { warehouse: string; weight: number; item: WarehouseReceipt['items']; eventId?: string; scannedAt?: string },
      ) => {
        const receipt = {
          eventId: options.eventId ?? `scan-${randomBytes(6).toString('hex')}`,
          warehouseId: options.warehouse,
          items: options.item,
          weightGrams: options.weight,
          scannedAt: options.scannedAt ?? new Date().toISOString(),
        };
        const accepted = await (await api()).recordWarehouseScan(refundId, receipt);
        print(accepted, () => `Scan ${accepted.eventId} recorded for refund ${refundId}`);
      },
    );
}

export function registerEvidenceCommands(program: Command, api: Api): void {
  registerCarrierEvent(program, api);
  registerScan(program, api);
}

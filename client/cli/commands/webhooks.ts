/** Outgoing webhook subscriptions (admins): add, list, disable, and their deliveries. */
import type { Command } from 'commander';
import { integer, type Api } from '../input';
import { table, when } from '../output';
import { print, UsageError } from '../runtime';
import { webhookEventTypes, type WebhookEventType, type WebhookSubscription } from '../../webhook-views';

function eventList(value: string): WebhookEventType[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return [];
  const unknown = names.filter((name) => !(webhookEventTypes as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new UsageError(
      `--events: ${unknown.join(', ') || '(none)'} is not an event type; use all or some of ${webhookEventTypes.join(', ')}`,
    );
  }
  return names as WebhookEventType[];
}

const showSubscription = (s: WebhookSubscription) =>
  [
    s.id,
    s.disabledAt ? `disabled ${when(s.disabledAt)}` : 'active',
    s.format,
    s.eventTypes?.join(',') ?? 'all',
    s.approverGroup ?? '-',
    s.url,
  ] as string[];

export function registerWebhookCommands(program: Command, api: Api): void {
  const webhooks = program.command('webhooks').description('outgoing webhook subscriptions (admins)');
  webhooks
    .command('add')
    .description('subscribe a URL to events, signed as Standard Webhooks; prints the signing secret once')
    .requiredOption('--url <url>', 'http:// or https:// URL the events are POSTed to')
    .option('--events <types>', `comma-separated event types, or all (default): ${webhookEventTypes.join(', ')}`)
    .option('--format <format>', 'standard (JSON { type, timestamp, data }) or slack ({ text })', 'standard')
    .option('--group <group>', 'deliver refund.escalated only for this approver group')
    .option('--description <text>', 'what the subscription is for')
    .action(async (options: { url: string; events?: string; format: string; group?: string; description?: string }) => {
      const events = options.events === undefined ? [] : eventList(options.events);
      if (options.format !== 'standard' && options.format !== 'slack') throw new UsageError('--format must be standard or slack');
      const created = await (await api()).addWebhookSubscription({
        url: options.url,
        ...(events.length > 0 ? { events } : {}),
        format: options.format,
        ...(options.group ? { approverGroup: options.group } : {}),
        ...(options.description ? { description: options.description } : {}),
      });
      print(created, () =>
        [
          `Subscription ${created.subscription.id} delivers ${created.subscription.eventTypes?.join(', ') ?? 'every event'} to ${created.subscription.url} (${created.subscription.format})`,
          `Signing secret (shown this once; verify webhook-signature with it): ${created.secret}`,
        ].join('\n'),
      );
    });
  webhooks
    .command('list')
    .description('every subscription, newest first (never a secret)')
    .action(async () => {
      const subscriptions = await (await api()).webhookSubscriptions();
      print({ subscriptions }, () =>
        subscriptions.length === 0
          ? 'No webhook subscriptions.'
          : table(['ID', 'STATUS', 'FORMAT', 'EVENTS', 'GROUP', 'URL'], subscriptions.map(showSubscription)),
      );
    });
  webhooks
    .command('disable')
    .description('deliver nothing more to a subscription (audited)')
    .argument('<subscriptionId>')
    .option('--reason <text>', 'why')
    .action(async (subscriptionId: string, options: { reason?: string }) => {
      const disabled = await (await api()).disableWebhookSubscription(subscriptionId, options.reason);
      print(disabled, () => `Subscription ${disabled.id} disabled by ${disabled.disabledBy} at ${when(disabled.disabledAt)}`);
    });
  webhooks
    .command('deliveries')
    .description("a subscription's recent deliveries, newest first")
    .argument('<subscriptionId>')
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .action(async (subscriptionId: string, options: { limit?: number }) => {
      const deliveries = await (await api()).webhookDeliveries(subscriptionId, options.limit);
      print({ deliveries }, () =>
        deliveries.length === 0
          ? 'No deliveries yet.'
          : table(
              ['WEBHOOK-ID', 'TYPE', 'STATUS', 'ATTEMPTS', 'LAST', 'ERROR'],
              deliveries.map((d) => [
                d.eventId,
                d.eventType,
                d.status,
                String(d.attempts),
                when(d.deliveredAt ?? d.lastAttemptAt),
                d.lastError ?? '-',
              ]),
            ),
      );
    });
}

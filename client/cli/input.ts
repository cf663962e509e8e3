/** How the `refunds` command reads its input: the refund API to call, the carrier key, JSON files, numbers. */
import { readFile } from 'node:fs/promises';
import { readLocalStack } from '../../config/local-stack';
import type { CarrierSigningKey } from '../carrier-signature';
import { RefundsApiClient } from '../refunds-api-client';
import { UsageError } from './runtime';
import { readSigningKeyFile } from './signing-key';

/** A client for the refund API, made when a command runs (after its options are parsed); carrier-event adds its key. */
export type Api = (extra?: { carrierKey?: CarrierSigningKey }) => Promise<RefundsApiClient>;

/** The key `refunds carrier-event` signs with: CARRIER_KEY_ID and CARRIER_WEBHOOK_SECRET, for the carrier of --carrier. */
export function carrierKeyFromEnv(carrier: string, env: NodeJS.ProcessEnv = process.env): CarrierSigningKey {
  const missing = ['CARRIER_KEY_ID', 'CARRIER_WEBHOOK_SECRET'].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new UsageError(
      `${missing.join(' and ')} must be set to sign carrier events: the id of a ${carrier} key and its secret (docs/cli.md)`,
    );
  }
  return { carrier, keyId: env.CARRIER_KEY_ID!, secret: env.CARRIER_WEBHOOK_SECRET! };
}

export async function apiClient(options: { apiUrl?: string; carrierKey?: CarrierSigningKey }): Promise<RefundsApiClient> {
  const baseUrl = options.apiUrl ?? process.env.REFUNDS_API_URL ?? (await readLocalStack())?.apiUrl ?? 'http://127.0.0.1:3000';
  if (!URL.canParse(baseUrl))
    throw new UsageError(`REFUNDS_API_URL must be a URL such as http://127.0.0.1:3000, not ${JSON.stringify(baseUrl)}`);
  return new RefundsApiClient({
    baseUrl,
    ...(process.env.REFUNDS_API_KEY ? { apiKey: process.env.REFUNDS_API_KEY } : {}),
    ...(options.carrierKey ? { carrierKey: options.carrierKey } : {}),
    ...(process.env.REFUNDS_SIGNING_KEY ? { signingKey: await readSigningKeyFile(process.env.REFUNDS_SIGNING_KEY) } : {}),
  });
}

/** A JSON file, or standard input for `-`. */
export async function readJson(file: string): Promise<unknown> {
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

/** An option parser for a whole number; `name` is the option in the message. */
export const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
};

/**
 * Requesting refunds under load: POST /v1/refunds through the HTTP API against direct
 * `RefundsClient.requestRefund` calls as the baseline.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from '../activities/db';
import type { RefundsClient } from '../client';

export interface ApiLoadRun {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface ApiLoadResult {
  runs: ApiLoadRun[];
  /** Why it did not run. */
  skipped?: string;
}

export interface ApiLoadDeps {
  refunds: RefundsClient;
  temporal: Client;
  pool: Pool;
  taskQueue: string;
  quick: boolean;
  log: (line: string) => void;
}

export async function runApiLoad(deps: ApiLoadDeps): Promise<ApiLoadResult> {
  const skipped = 'POST /v1/refunds was not measured: there is no HTTP API (client/http) in this tree yet.';
  deps.log(skipped);
  return { runs: [], skipped };
}

/** What every console page module gets from the plugin (api/console/plugin.ts). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../../store/pool';
import type { WebAuthnConfig } from '../../config/api';
import type { Role } from '../../workflows/schemas';
import type { TrustRoots } from '../../workflows/statements';
import type { OperationsService } from '../operations-service';
import type { RefundsService } from '../refunds-service';
import type { requireSession } from './session';

/** What every page module gets. */
export interface ConsoleContext {
  refunds: RefundsService;
  /** Listings, the approvals inbox, the stuck summary and the operations actions. */
  operations: OperationsService;
  pool: Pool;
  /** Passkeys' relying party and origin, and the trust roots whose endorsements count. */
  webauthn: WebAuthnConfig;
  trustRoots: TrustRoots | undefined;
  idleMs: number;
  lifetimeMs: number;
  /** A preHandler: a live session with one of `roles` (any if none); POSTs also need the CSRF token. */
  session(...roles: Role[]): ReturnType<typeof requireSession>;
  /** Renders `template` inside the layout, with the session's principal, CSRF token and navigation. */
  render(request: FastifyRequest, reply: FastifyReply, template: string, data?: Record<string, unknown>, status?: number): Promise<string>;
}

/** Where `refunds principal add` puts key files, the key ids it gives, and limits per currency. */
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyIdFor, keysFolder, limitsIn } from '../../client/cli/principal-keys';
import { UsageError } from '../../client/cli/runtime';

describe('refunds principal add: key files and limits', () => {
  it('keeps key files under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(keysFolder({ XDG_CONFIG_HOME: '/etc/me' })).toBe(path.join('/etc/me', 'refunds', 'keys'));
    expect(keysFolder({ XDG_CONFIG_HOME: ' ' })).toBe(path.join(os.homedir(), '.config', 'refunds', 'keys'));
  });

  it('names a version’s key after the principal, unless the id leaves no room', () => {
    expect(keyIdFor('emp-a', 3)).toBe('emp-a.k3');
    expect(keyIdFor('e'.repeat(126), 3)).toBe('k3');
  });

  it('registers the limit in each currency’s minor units, dropping decimals a currency does not have', () => {
    expect(limitsIn('1000.50', ['USD', 'JPY', 'BHD'])).toEqual({ USD: 100_050, JPY: 1000, BHD: 1_000_500 });
    expect(() => limitsIn('1,000', ['USD'])).toThrow(UsageError);
    expect(() => limitsIn('-5', ['USD'])).toThrow(/decimal amount/);
  });
});

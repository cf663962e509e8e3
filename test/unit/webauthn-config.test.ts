import { expect, it } from 'vitest';
import { loadApiConfig } from '../../config/api';
import { ConfigError } from '../../config/worker';

it('takes the passkey relying party id and origin from REFUNDS_WEBAUTHN_RP_ID and REFUNDS_WEBAUTHN_ORIGIN, localhost by default', () => {
  expect(loadApiConfig({}).webauthn).toEqual({ rpId: 'localhost', origin: 'http://localhost:3000', rpName: 'Refund approvals' });
  const set = loadApiConfig({
    REFUNDS_WEBAUTHN_RP_ID: 'refunds.example.com',
    REFUNDS_WEBAUTHN_ORIGIN: 'https://console.refunds.example.com',
    REFUNDS_WEBAUTHN_RP_NAME: 'Refunds',
  });
  expect(set.webauthn).toEqual({ rpId: 'refunds.example.com', origin: 'https://console.refunds.example.com', rpName: 'Refunds' });
});

it.each([
  [{ REFUNDS_WEBAUTHN_RP_ID: '127.0.0.1', REFUNDS_WEBAUTHN_ORIGIN: 'http://127.0.0.1:3000' }, /REFUNDS_WEBAUTHN_RP_ID/],
  [{ REFUNDS_WEBAUTHN_RP_ID: 'Refunds.Example.com' }, /REFUNDS_WEBAUTHN_RP_ID/],
  [{ REFUNDS_WEBAUTHN_ORIGIN: 'http://localhost:3000/console' }, /REFUNDS_WEBAUTHN_ORIGIN/],
  [{ REFUNDS_WEBAUTHN_ORIGIN: 'https://example.com' }, /REFUNDS_WEBAUTHN_ORIGIN's host must be REFUNDS_WEBAUTHN_RP_ID/],
  [{ REFUNDS_WEBAUTHN_RP_ID: 'example.com', REFUNDS_WEBAUTHN_ORIGIN: 'https://notexample.com' }, /REFUNDS_WEBAUTHN_ORIGIN/],
])('refuses %j, naming the variable', (env, message) => {
  expect(() => loadApiConfig(env)).toThrow(ConfigError);
  expect(() => loadApiConfig(env)).toThrow(message);
});

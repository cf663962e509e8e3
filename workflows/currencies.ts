/**
 * ISO 4217 currencies a refund can be paid in, with their minor-unit exponent.
 * A static table rather than `Intl.supportedValuesOf`: the workflow validates with it, and a
 * list that changed with the Node.js version would change replay outcomes.
 * Fund codes (FUND_CODES), precious metals and testing codes (XAU, XTS, XXX, …) are deliberately absent.
 */
const TWO_DECIMALS =
  'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD ' +
  'CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP ' +
  'GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL ' +
  'MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN ' +
  'QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD ' +
  'TWD TZS UAH USD UYU UZS VES WST XCD XCG YER ZAR ZMW ZWG';
const ZERO_DECIMALS = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF';
const THREE_DECIMALS = 'BHD IQD JOD KWD LYD OMR TND';
/**
 * Fund codes (ISO 4217 units of account, not money a customer is paid in): refused as currencies.
 * Listed so that the test can check the table against them.
 */
export const FUND_CODES = ['BOV', 'CHE', 'CHW', 'CLF', 'COU', 'MXV', 'USN', 'UYI', 'UYW'] as const;

const exponents = new Map<string, number>();
for (const [list, exponent] of [
  [TWO_DECIMALS, 2],
  [ZERO_DECIMALS, 0],
  [THREE_DECIMALS, 3],
] as const) {
  for (const code of list.split(' ')) exponents.set(code, exponent);
}

/** The codes of the table, as one pattern: what an OpenAPI document can say of a currency field. */
export const CURRENCY_PATTERN = new RegExp(`^(${[...exponents.keys()].sort().join('|')})$`);

export function isCurrency(code: string): boolean {
  return exponents.has(code);
}

/** Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3). */
export function minorUnitExponent(currency: string): number {
  const exponent = exponents.get(currency);
  if (exponent === undefined) throw new RangeError(`unknown currency ${currency}`);
  return exponent;
}

/**
 * Converts a decimal amount in major units ("1000.00") to integer minor units of a currency.
 * Digits beyond the currency's precision are refused rather than rounded.
 */
export function majorToMinor(decimal: string, currency: string): number {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(decimal);
  if (!match) throw new RangeError(`"${decimal}" is not a decimal amount like 1000.00`);
  const exponent = minorUnitExponent(currency);
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > exponent) {
    throw new RangeError(`"${decimal}" has more decimals than ${currency} allows (${exponent})`);
  }
  const minor = Number(match[1]) * 10 ** exponent + Number(fraction.padEnd(exponent, '0') || '0');
  if (!Number.isSafeInteger(minor)) throw new RangeError(`"${decimal}" is too large`);
  return minor;
}

/** Formats minor units for people: 249900 USD → "2499.00 USD". */
export function formatMinor(amount: number, currency: string): string {
  const exponent = exponents.get(currency) ?? 2;
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  if (exponent === 0) return `${sign}${abs} ${currency}`;
  const units = Math.floor(abs / 10 ** exponent);
  const fraction = String(abs % 10 ** exponent).padStart(exponent, '0');
  return `${sign}${units}.${fraction} ${currency}`;
}

/** Goods signals: what is being refunded. Pure: the request and the policy are enough. */
import { formatMinor } from '../../workflows/currencies';
import { highResaleCategoriesOf, thresholdsFor } from '../../workflows/policy';
import { hasCarrierReturn } from '../../workflows/schemas';
import type { RiskInput, Signal } from './signal';

export function goodsSignals(input: Pick<RiskInput, 'request' | 'amount' | 'policy'>): Signal[] {
  const { request, amount, policy } = input;
  const limits = thresholdsFor(policy, request.currency);
  const signals: Signal[] = [];

  const valuable = request.items.filter((i) => i.unitAmount > limits.highValueItem);
  if (valuable.length > 0) {
    signals.push({
      code: 'goods_high_value_item',
      detail: `${valuable.map((i) => `${i.sku} at ${formatMinor(i.unitAmount, request.currency)}`).join(', ')} (above ${formatMinor(limits.highValueItem, request.currency)})`,
      values: {
        items: valuable.map((i) => ({ sku: i.sku, unitAmount: i.unitAmount })),
        threshold: limits.highValueItem,
        currency: request.currency,
      },
    });
  }

  const categories = highResaleCategoriesOf(request.items, policy);
  if (categories.length > 0) {
    const items = request.items.filter((i) => categories.includes(i.category));
    signals.push({
      code: 'goods_high_resale',
      detail: `high-resale goods: ${categories.join(', ')}`,
      values: { categories, items: items.map((i) => ({ sku: i.sku, category: i.category, quantity: i.quantity })) },
    });
  }

  if (!hasCarrierReturn(request.return)) {
    signals.push({
      code: 'goods_returnless',
      detail: `no return parcel for ${formatMinor(amount, request.currency)}`,
      values: { amount, currency: request.currency, returnlessMax: limits.returnlessMax },
    });
  }
  return signals;
}

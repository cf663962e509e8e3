/**
 * Workflow modules build their zod schemas once per workflow thread (workflows/built-once.ts): a
 * module evaluated again gets the schemas of its first evaluation, and a key or a name that would
 * hand a module someone else's schema throws instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { builtOnce } from '../../workflows/built-once';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** One evaluation of a module that builds two schemas, counting how often each is built. */
function evaluate(key: string, counts: { a: number; b: number }) {
  const built = builtOnce(key);
  const A = built('A', () => {
    counts.a++;
    return z.strictObject({ id: z.string().min(1) });
  });
  const B = built('B', () => {
    counts.b++;
    return z.array(A).min(1);
  });
  return { A, B };
}

it('builds a module’s schemas on its first evaluation and hands later evaluations the same ones', () => {
  const counts = { a: 0, b: 0 };
  const first = evaluate('test/built-once/same', counts);
  const second = evaluate('test/built-once/same', counts);
  const third = evaluate('test/built-once/same', counts);
  expect(counts).toEqual({ a: 1, b: 1 });
  expect(second.A).toBe(first.A);
  expect(third.B).toBe(first.B);
  // The shared schema still works, first use and later.
  expect(second.B.parse([{ id: 'x' }])).toEqual([{ id: 'x' }]);
  expect(third.B.safeParse([{ id: '' }]).success).toBe(false);
});

it('refuses a name built twice in one module', () => {
  const built = builtOnce('test/built-once/twice');
  built('A', () => z.string());
  expect(() => built('A', () => z.number())).toThrow('test/built-once/twice builds two schemas named A');
});

it('refuses a later evaluation that asks for other names, or in another order, than the first', () => {
  const counts = { a: 0, b: 0 };
  evaluate('test/built-once/order', counts);
  const other = builtOnce('test/built-once/order');
  expect(() => other('B', () => z.string())).toThrow(
    'test/built-once/order builds B as its schema number 1, but A the first time: two modules share the key, or one builds a schema only sometimes',
  );
  const longer = builtOnce('test/built-once/order');
  longer('A', () => z.string());
  longer('B', () => z.string());
  expect(() => longer('C', () => z.string())).toThrow('builds C as its schema number 3, but nothing the first time');
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

it('gives every workflow module that builds schemas its own key: its path', () => {
  const modules = sources(path.join(root, 'workflows')).filter((file) => !file.endsWith('built-once.ts'));
  const keys = modules.flatMap((file) => {
    const found = [...readFileSync(file, 'utf8').matchAll(/builtOnce\('([^']+)'\)/g)].map((m) => m[1]);
    return found.map((key) => ({ key, file: path.relative(root, file).replace(/\.ts$/, '') }));
  });
  expect(keys.length).toBeGreaterThanOrEqual(9);
  for (const { key, file } of keys) expect(key).toBe(file);
  expect(new Set(keys.map((k) => k.key)).size).toBe(keys.length);
});

it('is loaded with the libraries each workflow thread shares, so its schemas outlive a workflow', () => {
  const shared = readFileSync(path.join(root, 'workflows/shared-modules.ts'), 'utf8');
  expect(shared).toMatch(/^export \{ builtOnce \} from '\.\/built-once';$/m);
});

/** The test stack itself: if these fail, every other integration test will too. */
import { readdir, stat } from 'node:fs/promises';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { migrationsDir } from '../../store/migrate';
import { refundSearchAttributes } from '../../workflows/search-attributes';
import { connectClient, newPool, testNamespace, testStack } from '../support/stack';

describe('test stack', () => {
  it('has a Temporal dev server that answers', async () => {
    const client = await connectClient();
    try {
      const info = await client.connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await client.connection.close();
    }
  });

  it('registers the refund search attributes with their types', async () => {
    const client = await connectClient();
    try {
      const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace: testNamespace });
      for (const [name, type] of Object.entries(refundSearchAttributes)) {
        const enumName = `INDEXED_VALUE_TYPE_${type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
        const expected =
          proto.temporal.api.enums.v1.IndexedValueType[enumName as keyof typeof proto.temporal.api.enums.v1.IndexedValueType];
        expect({ name, type: customAttributes?.[name] }).toEqual({ name, type: expected });
      }
    } finally {
      await client.connection.close();
    }
  });

  it('has PostgreSQL with every migration applied', async () => {
    const pool = newPool(1);
    try {
      const { rows } = await pool.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY run_on, id');
      const files = (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.(sql|js|ts)$/.test(f));
      expect(rows.map((r) => r.name).sort()).toEqual(files.map((f) => f.replace(/\.(sql|js|ts)$/, '')).sort());
    } finally {
      await pool.end();
    }
  });

  it('has a prebuilt workflow bundle', async () => {
    expect((await stat(testStack().workflowBundlePath)).size).toBeGreaterThan(0);
  });
});

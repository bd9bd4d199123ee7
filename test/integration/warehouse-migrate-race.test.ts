/**
 * Services started together on a new warehouse migrate it at once: each
 * creates what it found missing, and the losers of a race on the same object
 * get PostgreSQL's duplicate errors (23505, 42P07, 42710), which must not stop them.
 */
import { describe, expect, it } from 'vitest';
import { Warehouse } from '@musicflow/warehouse';
import { dropTestDatabase, PG_ADMIN, uniqueName } from '../helpers/env.ts';

describe('warehouse migration', () => {
  it('lets services that start together on a new database all start', async () => {
    for (let round = 0; round < 6; round++) {
      const u = new URL(PG_ADMIN);
      u.pathname = `/${uniqueName('musicflow_race')}`;
      const url = u.toString();
      const starting = await Promise.allSettled(Array.from({ length: 6 }, () => Warehouse.connect(url)));
      for (const s of starting) if (s.status === 'fulfilled') await s.value.close();
      await dropTestDatabase(url);
      expect(starting.filter((s) => s.status === 'rejected').map((s) => String(s.reason))).toEqual([]);
    }
  }, 120_000);
});

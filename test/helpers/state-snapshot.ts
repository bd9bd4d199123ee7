import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { readWarehouseKpis } from './kpis.ts';

/** Every file under `dir` (relative path → sha256 of its bytes): two equal snapshots mean nothing was added, changed or removed. */
export async function snapshotFolder(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, file)] = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
  }
  return files;
}

/** The warehouse as analysts see it: every KPI row, with the run that wrote it. */
export async function snapshotWarehouse(warehouseUrl: string): Promise<{ kpis: unknown; writers: unknown[] }> {
  const client = new pg.Client({ connectionString: warehouseUrl });
  await client.connect();
  try {
    const writers = await client.query(
      `SELECT to_char(listen_date, 'YYYY-MM-DD') AS d, listen_hour, run_id, snapshot_seq FROM analytics.hourly_kpis ORDER BY listen_date, listen_hour`,
    );
    return { kpis: await readWarehouseKpis(warehouseUrl), writers: writers.rows };
  } finally {
    await client.end();
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { pipeline as pump } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { SAMPLE } from './env.ts';

/** The sample's users.csv and songs.csv as the `users` and `songs` tables of the database at `url` (the RDS source). */
export async function loadRdsTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE TABLE users (user_id INTEGER PRIMARY KEY, user_name TEXT, user_age INTEGER, user_country TEXT, created_at DATE)`);
    const songColumns = fs.readFileSync(path.join(SAMPLE, 'songs.csv'), 'utf8').split('\n', 1)[0]!.trim().split(',');
    const typed: Record<string, string> = { popularity: 'INTEGER', duration_ms: 'INTEGER' };
    await client.query(`CREATE TABLE songs (${songColumns.map((c) => `"${c}" ${typed[c] ?? 'TEXT'}`).join(', ')})`);
    for (const table of ['users', 'songs']) {
      await pump(fs.createReadStream(path.join(SAMPLE, `${table}.csv`)), client.query(copyFrom(`COPY ${table} FROM STDIN WITH (FORMAT csv, HEADER true)`)));
    }
  } finally {
    await client.end();
  }
}

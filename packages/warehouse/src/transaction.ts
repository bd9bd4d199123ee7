import type pg from 'pg';

/** Runs `work` in one transaction on a client of `pool`: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, begin: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A session cut while checked out (a failover, a restart) also fails the statement in flight or the next one,
  // and emits 'error' on the client, which the pool only listens to while the client is idle: unheard, it kills the process.
  let cutBy: Error | undefined;
  const cut = (err: Error) => (cutBy = err);
  client.on('error', cut);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', cut);
    // A cut session is closed, not handed back to the pool for the next load.
    client.release(cutBy);
  }
}

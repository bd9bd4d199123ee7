import { parquetMetadataAsync, parquetRead, type AsyncBuffer } from 'hyparquet';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_PARQUET_SCHEMA, type LakeEvent } from './part-writer.ts';

export type LakeRow = LakeEvent;

/** Column order of the rows below: the schema's, without its root. */
const COLUMNS = LAKE_PARQUET_SCHEMA.slice(1).map((c) => c.name);

async function asyncBuffer(store: ObjectStore, url: string): Promise<AsyncBuffer> {
  const info = await store.head(url);
  if (!info) throw new Error(`lake part ${url} is missing`);
  return {
    byteLength: info.size,
    async slice(start: number, end = info.size): Promise<ArrayBuffer> {
      const parts: Buffer[] = [];
      for await (const b of await store.read(url, { start, end })) parts.push(b as Buffer);
      const all = Buffer.concat(parts);
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer;
    },
  };
}

/** Streams a lake part's rows one row group at a time, through ranged reads. */
export async function* readLakePart(store: ObjectStore, url: string): AsyncGenerator<LakeRow[]> {
  const file = await asyncBuffer(store, url);
  const metadata = await parquetMetadataAsync(file);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: unknown[][] = [];
    await parquetRead({
      file,
      metadata,
      columns: COLUMNS,
      rowStart,
      rowEnd,
      parsers: { timestampFromMilliseconds: (v: bigint) => Number(v) } as never,
      onComplete: (data: unknown[][]) => (rows = data),
    });
    rowStart = rowEnd;
    yield rows.map((r) => ({
      userId: r[0] as number,
      trackId: r[1] as string,
      listenTime: r[2] as number,
      userKnown: r[3] as boolean,
      trackName: (r[4] ?? null) as string | null,
      artists: (r[5] ?? null) as string | null,
      genres: (r[6] ?? null) as string | null,
      popularity: (r[7] ?? null) as number | null,
      durationMs: (r[8] ?? null) as number | null,
    }));
  }
}

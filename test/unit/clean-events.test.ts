/** The validator -> transformer hand-off: binary column blocks with a per-chunk track dictionary. */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { forEachLine } from '@musicflow/ingest';
import { CleanEventsCursor, CleanEventsWriter, readChunkKeys, readCleanEvents, readRunUserIds } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from '../helpers/env.ts';

interface Event {
  userId: number;
  trackId: string;
  listenTime: number;
}

async function encode(events: Event[]): Promise<Buffer> {
  const out = new PassThrough();
  const bytes: Buffer[] = [];
  out.on('data', (b: Buffer) => bytes.push(b));
  const writer = new CleanEventsWriter(out);
  for (const e of events) await writer.add(e.userId, e.trackId, e.listenTime);
  await writer.end();
  return Buffer.concat(bytes);
}

/** Re-chunks `bytes` into pieces of varying, unaligned sizes, as a network stream would. */
function unevenStream(bytes: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = 1 + ((i * 7919) % 5003);
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(pieces);
}

async function decode(stream: Readable) {
  const events: Event[] = [];
  const blocks: { rows: number; firstNewTrack: number; tracks: number }[] = [];
  const trackIds: string[] = [];
  for await (const block of readCleanEvents(stream, 'test.events')) {
    if (block.newTrackIds.length) trackIds.push(...block.newTrackIds.toString('utf8').split('\n'));
    expect(trackIds.length).toBe(block.tracks);
    blocks.push({ rows: block.rows, firstNewTrack: block.firstNewTrack, tracks: block.tracks });
    for (let i = 0; i < block.rows; i++) {
      events.push({ userId: block.userIds[i]!, trackId: trackIds[block.trackIndexes[i]!]!, listenTime: block.listenTimes[i]! });
    }
  }
  return { events, blocks };
}

describe('clean events hand-off', () => {
  const events: Event[] = Array.from({ length: 150_000 }, (_, i) => ({
    userId: 1 + ((i * 31) % 2_147_483_000),
    // Non-ASCII ids and ids first seen in a later block.
    trackId: i < 70_000 ? `tr\u00e4ck-${i % 5000}` : `late-${i % 20_000}`,
    listenTime: Date.UTC(2024, 5, 25) + i * 1001.5,
  }));

  it('round-trips every event across blocks, sending each track id once, whatever the read sizes', async () => {
    const bytes = await encode(events);
    const { events: back, blocks } = await decode(unevenStream(bytes));
    expect(back).toEqual(events);
    expect(blocks.map((b) => b.rows)).toEqual([65_536, 65_536, 150_000 - 2 * 65_536]);
    // Block 1 introduces the first 5000 + the late ids it holds; the last block knows them all.
    expect(blocks[0]).toEqual({ rows: 65_536, firstNewTrack: 0, tracks: 5000 });
    expect(blocks[2]!.tracks).toBe(5000 + 20_000);
    // Dictionary encoding: far smaller than the ids written out per row.
    expect(bytes.length).toBeLessThan(events.length * 16 + 25_000 * 20);
  });

  it("cuts blocks by size, not by segment: a cursor takes each segment's events, within a block or across blocks", async () => {
    // 3,000 small segments of 3 events, a big one of 100,000 across blocks, then 7 more events.
    const sizes = [...Array.from({ length: 3000 }, () => 3), 100_000, 7];
    const out = new PassThrough();
    const bytes: Buffer[] = [];
    out.on('data', (b: Buffer) => bytes.push(b));
    const writer = new CleanEventsWriter(out);
    const counted: number[] = [];
    let e = 0;
    for (const size of sizes) {
      const before = writer.events;
      for (let i = 0; i < size; i++, e++) await writer.add(events[e]!.userId, events[e]!.trackId, events[e]!.listenTime);
      counted.push(writer.events - before);
    }
    await writer.end();
    expect(counted).toEqual(sizes);
    const written = Buffer.concat(bytes);
    expect((await decode(Readable.from([written]))).blocks.map((b) => b.rows)).toEqual([65_536, 109_007 - 65_536]);

    const cursor = new CleanEventsCursor(readCleanEvents(unevenStream(written), 'test.events'), 'test.events');
    const trackIds: string[] = [];
    const back: Event[][] = [];
    let pieces = 0;
    for (const [s, size] of sizes.entries()) {
      const segment: Event[] = [];
      for (let left = size; left > 0; pieces++) {
        const taken = cursor.piece(left, size, `segment ${s}`);
        const { block, start, end } = 'then' in taken ? await taken : taken;
        if (start === 0 && block.newTrackIds.length) trackIds.push(...block.newTrackIds.toString('utf8').split('\n'));
        for (let i = start; i < end; i++)
          segment.push({ userId: block.userIds[i]!, trackId: trackIds[block.trackIndexes[i]!]!, listenTime: block.listenTimes[i]! });
        left -= end - start;
      }
      back.push(segment);
    }
    expect(back.map((segment) => segment.length)).toEqual(sizes);
    expect(back.flat()).toEqual(events.slice(0, e));
    // The big segment is two pieces (the rest of the first block, then the second): 3,000 + 2 + 1.
    expect(pieces).toBe(3003);
    // Asked for more than the chunk holds: an error naming the segment and what it found.
    await expect(Promise.resolve(cursor.piece(5, 5, 'segment 3002'))).rejects.toThrow(/test\.events: segment 3002 should have 5 clean events, found 0/);
    await cursor.close();
  });

  it('an empty chunk has no block, and a truncated temporary is an error naming it', async () => {
    expect((await decode(Readable.from(await encode([])))).events).toEqual([]);
    const bytes = await encode(events.slice(0, 10));
    await expect(decode(Readable.from([bytes.subarray(0, bytes.length - 3)]))).rejects.toThrow(/test\.events: clean events end inside a block/);
  });

  it("writes the chunk's keys: its distinct users and tracks, which the catalogue jobs read instead of the events", async () => {
    const dir = await tempDir();
    const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    try {
      const write = async (name: string, rows: Event[]) => {
        const writer = new CleanEventsWriter(new PassThrough().resume());
        for (const e of rows) await writer.add(e.userId, e.trackId, e.listenTime);
        await writer.end();
        const url = `${dirUrl(dir)}${name}.keys`;
        await store.write(url, writer.keys());
        return url;
      };
      // Two chunks sharing some users and tracks; ids up to 2^31-1 and non-ASCII track ids.
      const a = await write('a', [
        { userId: 7, trackId: 'trk-é', listenTime: 1 },
        { userId: 7, trackId: 'trk-2', listenTime: 2 },
        { userId: 2_147_483_647, trackId: 'trk-é', listenTime: 3 },
      ]);
      const b = await write('b', [
        { userId: 9, trackId: 'trk-2', listenTime: 4 },
        { userId: 7, trackId: 'trk-3', listenTime: 5 },
      ]);
      const empty = await write('empty', []);
      expect([...(await readRunUserIds(store, [a, b, empty])).values()].sort((x, y) => x - y)).toEqual([7, 9, 2_147_483_647]);
      const trackIds = async (url: string) => {
        const ids: string[] = [];
        forEachLine((await readChunkKeys(store, url)).trackIdBytes, (bytes, start, end) => ids.push(bytes.toString('utf8', start, end)));
        return ids;
      };
      expect((await trackIds(a)).sort()).toEqual(['trk-2', 'trk-é']);
      expect((await trackIds(b)).sort()).toEqual(['trk-2', 'trk-3']);
      expect(await trackIds(empty)).toEqual([]);
      // A keys object cut short is an error naming it.
      await fs.writeFile(path.join(dir, 'cut.keys'), (await fs.readFile(path.join(dir, 'a.keys'))).subarray(0, 9));
      await expect(readRunUserIds(store, [`${dirUrl(dir)}cut.keys`])).rejects.toThrow(/cut\.keys: not a chunk's keys/);
    } finally {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

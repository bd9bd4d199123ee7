/**
 * The bench's generated long-tail day (bench/generate.ts): the catalogue's
 * shape (second genres, two-artist credits, generated users) and the events'
 * spread over it with `tailShare`, and the same valid events however many
 * files they are cut into, read back from the files it writes.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, HEAD_TRACKS, MAX_FILE_DIRT, type GeneratedData } from '../../bench/generate.ts';

const SAMPLE = fileURLToPath(new URL('../../data/sample/', import.meta.url));
const SONGS = 20_000;
const USERS = 30_000;

const lines = async (file: string) => (await fs.readFile(file, 'utf8')).split(/\r?\n/).filter(Boolean).slice(1);
const eventTracks = async (data: GeneratedData) => (await Promise.all(data.streamFiles.map(lines))).flat().map((l) => l.split(',')[1]!);

describe('bench data generator', () => {
  let root: string;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'musicflow-generate-'));
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('appends songs with second genres and two-artist credits, and users after the sample', async () => {
    const data = await generate({ events: 1000, files: 1, root, sampleDir: SAMPLE, catalogueSongs: SONGS, catalogueUsers: USERS });
    const songs = (await lines(data.songsCsv)).filter((l) => l.includes(',zzGenTrack'));
    const rowsPerTrack = new Map<string, string[]>();
    for (const row of songs) {
      const fields = row.split(',');
      rowsPerTrack.set(fields[1]!, [...(rowsPerTrack.get(fields[1]!) ?? []), row]);
    }
    expect(rowsPerTrack.size).toBe(SONGS);
    const twoRows = [...rowsPerTrack.values()].filter((rows) => rows.length === 2);
    expect(twoRows.length / SONGS).toBeCloseTo(1 / 7, 1);
    // The second row differs from the first in its genre alone.
    for (const [a, b] of twoRows) expect(a!.split(',').slice(0, -1)).toEqual(b!.split(',').slice(0, -1));
    for (const [a, b] of twoRows) expect(a!.split(',').at(-1)).not.toBe(b!.split(',').at(-1));
    const credits = [...rowsPerTrack.values()].map((rows) => rows[0]!.split(',')[2]!.split(';'));
    expect(credits.every((c) => c.length <= 2 && new Set(c).size === c.length)).toBe(true);
    expect(credits.filter((c) => c.length === 2).length / SONGS).toBeCloseTo(0.15, 1);
    const users = await lines(data.usersCsv);
    expect(users).toHaveLength(50_000 + USERS);
    expect(users.at(-1)!.split(',')[0]).toBe(String(50_000 + USERS));
  });

  it('spreads a tail share of the plays over the whole catalogue and the rest over a head', async () => {
    const events = 40_000;
    const shape = { events, files: 2, root, sampleDir: SAMPLE, catalogueSongs: SONGS, catalogueUsers: USERS };
    const today = await eventTracks(await generate(shape));
    const headOnly = await eventTracks(await generate({ ...shape, tailShare: 0 }));
    const longTail = await generate({ ...shape, tailShare: 0.5 });
    const tail = await eventTracks(longTail);

    // Without tailShare the plays stay on the sample's tracks.
    expect(today.filter((t) => t.startsWith('zzGenTrack'))).toEqual([]);
    // A head of HEAD_TRACKS tracks (and the 0.5 % unknown ones) drawn from sample and generated songs alike.
    const head = new Set(headOnly.filter((t) => !t.startsWith('zzUnknown')));
    expect(head.size).toBeLessThanOrEqual(HEAD_TRACKS);
    expect([...head].some((t) => t.startsWith('zzGenTrack'))).toBe(true);
    // Half the plays uniform over 48k tracks: about 16k distinct of them, beside the head's.
    const generated = new Set(tail.filter((t) => t.startsWith('zzGenTrack')));
    expect(generated.size).toBeGreaterThan(5_000);
    expect(new Set(tail).size).toBeGreaterThan(head.size + 10_000);
    // Tail plays' listeners are uniform over all 80k users: 3/8 of the tail's are generated ones.
    const users = (await Promise.all(longTail.streamFiles.map(lines))).flat().map((l) => Number(l.split(',')[0]));
    expect(users.filter((u) => u > 50_000).length / events).toBeCloseTo((0.5 * USERS) / (50_000 + USERS), 1);
  });

  it('cuts the same valid events into small files without one crossing the reject threshold', async () => {
    const events = 40_000;
    // The bench's invalid rows: a user id of 0 or a 31st of June.
    const invalid = (line: string) => line.startsWith('0,') || line.includes('2024-06-31');
    const big = await generate({ events, files: 2, root, sampleDir: SAMPLE });
    const small = await generate({ events, files: 4_000, root, sampleDir: SAMPLE });
    const bigLines = (await Promise.all(big.streamFiles.map(lines))).flat();
    const smallFiles = await Promise.all(small.streamFiles.map(lines));
    // Big files keep the 0.05 % drawn.
    expect(bigLines.filter(invalid).length).toBeGreaterThan(5);
    // 10 events a file: one invalid row would be 10 %, over SPEC's 5 %; none is written there.
    for (const file of smallFiles) expect(file.filter(invalid).length).toBeLessThanOrEqual(Math.floor(file.length * MAX_FILE_DIRT));
    expect(smallFiles.flat().filter((l) => !invalid(l))).toEqual(bigLines.filter((l) => !invalid(l)));
    expect(small.events).toBe(events - bigLines.filter(invalid).length);
  });
});

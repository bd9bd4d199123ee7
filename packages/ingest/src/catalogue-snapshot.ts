import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ObjectStore } from '@musicflow/storage';
import type { Song } from './catalogue.ts';

/**
 * The catalogue as one run sees it, written once by the extractor and read by
 * every transformer: songs as NDJSON, user ids one per line.
 */
export async function writeSongsSnapshot(store: ObjectStore, url: string, songs: Iterable<Song>): Promise<void> {
  await store.write(url, Readable.from((function* () {
    for (const s of songs) yield `${JSON.stringify(s)}\n`;
  })()));
}

export async function writeUsersSnapshot(store: ObjectStore, url: string, userIds: Iterable<number>): Promise<void> {
  await store.write(url, Readable.from((function* () {
    for (const id of userIds) yield `${id}\n`;
  })()));
}

async function* lines(store: ObjectStore, url: string): AsyncGenerator<string> {
  for await (const line of createInterface({ input: await store.read(url), crlfDelay: Infinity })) {
    if (line) yield line;
  }
}

export async function readSongsSnapshot(store: ObjectStore, url: string): Promise<Map<string, Song>> {
  const songs = new Map<string, Song>();
  for await (const line of lines(store, url)) {
    const song = JSON.parse(line) as Song;
    songs.set(song.trackId, song);
  }
  return songs;
}

export async function readUsersSnapshot(store: ObjectStore, url: string): Promise<Set<number>> {
  const users = new Set<number>();
  for await (const line of lines(store, url)) users.add(Number(line));
  return users;
}

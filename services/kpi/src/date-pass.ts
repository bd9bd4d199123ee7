import { KpiAccumulator, withRoom, type TrackInfoBytes, type Utf8Slice } from '@musicflow/kpi';
import { bucketsOfPass, openLakePart, publishedPartsOf, USER_BUCKETS, userBucketOf, type DatePart, type GroupRows } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';
import pMap from 'p-map';

const NONE = new Uint8Array(0);

/** Part footers read at once: a date of thousands of small files is mostly waiting on the store. */
const OPEN_CONCURRENCY = 16;

/**
 * Every part of a date in the lake, footers read. Other runs' parts go
 * first, so `duplicate` counts this run's events that were already known;
 * then by source file (a pack by its first), so of two files of one run
 * with the same events, the later one's count as duplicates.
 */
export async function openDateParts(store: ObjectStore, lake: string, date: string, ours: Set<string>): Promise<DatePart[]> {
  const parts = await openParts(store, await publishedPartsOf(store, lake, date), ours);
  const firstFile = (p: DatePart) => p.reader.format.sourceFiles[0]!;
  return parts.sort((a, b) => Number(a.counting) - Number(b.counting) || firstFile(a).localeCompare(firstFile(b)) || a.url.localeCompare(b.url));
}

/** `urls` opened in their order; `ours` are the ones whose known events count as duplicates. */
export function openParts(store: ObjectStore, urls: string[], ours: ReadonlySet<string>): Promise<DatePart[]> {
  return pMap(
    urls,
    async (url) => {
      const reader = await openLakePart(store, url);
      const files = reader.format.sourceFiles;
      return { url, fileId: files.length === 1 ? files[0] : undefined, counting: ours.has(url), reader };
    },
    { concurrency: OPEN_CONCURRENCY },
  );
}

/**
 * How many pass jobs a date of `rows` events, playing at most `tracks` distinct
 * tracks, needs so that no pass exceeds either setting (one pass takes at
 * least one user bucket).
 */
export function passesNeeded(rows: number, tracks: number, perPass: { events: number; tracks: number }): number {
  return Math.min(USER_BUCKETS, Math.max(1, Math.ceil(rows / perPass.events), Math.ceil(tracks / perPass.tracks)));
}

/**
 * The passes of a date that needs `needed` (`passesNeeded`) once the KPI
 * workers' job slots are known: a date that is split at all is split into a
 * multiple of `slots`, at most twice as many passes as it needs. Passes run in
 * rounds of `slots`, and the long-tail day's 5 passes on 2 workers ended with
 * one pass alone, its other worker idle for a whole pass.
 */
export function passesForSlots(needed: number, slots: number): number {
  if (needed === 1 || slots < 2) return needed;
  return Math.min(USER_BUCKETS, 2 * needed, Math.ceil(needed / slots) * slots);
}

/** The rows of every row group of every part that pass `buckets` reads (all of them for one pass), none where a group holds none of its users. */
async function passRows(parts: DatePart[], buckets: [number, number], passes: number): Promise<GroupRows[][]> {
  return pMap(
    parts,
    ({ reader }) =>
      Promise.all(
        Array.from({ length: reader.rowGroups }, (_, g): Promise<GroupRows> =>
          passes === 1 ? Promise.resolve([0, reader.groupRows(g)]) : reader.rowsInBuckets(g, buckets),
        ),
      ),
    { concurrency: OPEN_CONCURRENCY },
  );
}

/**
 * Counts the plays of the users in pass `pass` of `passes` (all of them for
 * one pass) into a new accumulator; returns it with how many events they had,
 * how many were distinct (`events`) and how many rows were read, and how many
 * of the counting parts' events were duplicates (in all and per source file).
 * A pass reads only the pages that may hold its users (part format 5), so it
 * reads about its own rows. Every pass gives every track its catalogue info
 * from the first row that has it, whoever played it, so all passes agree on it.
 */
export async function countPass(parts: DatePart[], pass: number, passes: number, betweenGroups?: () => Promise<void>) {
  const buckets = bucketsOfPass(pass, passes);
  const rowsToRead = await passRows(parts, buckets, passes);
  const bound = rowsToRead.flat().reduce((n, [from, to]) => n + to - from, 0);
  // The parts' distinct tracks over the passes (their sum is an upper bound of the date's): a pass's share, about.
  const tracks = parts.reduce((n, p) => n + p.reader.format.distinctTracksAtMost, 0);
  // Sized once for every row the pass reads: the duplicate table never grows (growing holds two tables at once).
  const accumulator = new KpiAccumulator({ expectedPlaysPerDate: bound, expectedTracks: Math.min(bound, Math.ceil(tracks / passes)) });
  return { accumulator, ...(await accumulatePass(parts, rowsToRead, accumulator, buckets, passes, betweenGroups)) };
}

async function accumulatePass(
  parts: DatePart[],
  rowsToRead: GroupRows[][],
  accumulator: KpiAccumulator,
  [first, end]: [number, number],
  passes: number,
  betweenGroups?: () => Promise<void>,
) {
  let duplicate = 0;
  let rows = 0;
  let rowsRead = 0;
  const duplicateByFile = new Map<string, number>();
  let events = 0;
  const internTrack = (utf8: Uint8Array, start: number, end: number) => accumulator.internTrackBytes(utf8, start, end);
  // Per row of the group at hand: whether its user is in this pass.
  let inPass = new Uint8Array(0);
  // One record refilled for every track given its info: no object or view a track.
  const slice = (): Utf8Slice => ({ bytes: NONE, start: 0, end: 0 });
  const trackInfo: TrackInfoBytes = { name: slice(), artists: slice(), genres: slice(), durationMs: 0, popularity: 0 };
  // Per track, the last group (counted from 1) that asked for its info: a track is asked for once a group.
  let askedIn = new Int32Array(0);
  let group = 0;
  for (const [p, { counting, reader, fileId }] of parts.entries()) {
    for (let g = 0; g < reader.rowGroups; g++) {
      const range = rowsToRead[p]![g]!;
      if (range[1] === range[0]) continue;
      await betweenGroups?.();
      const { rows: n, userIds, listenTimes, tracks, catalogued } = await reader.readPlays(g, internTrack, range);
      rowsRead += n;
      if (inPass.length < n) inPass = new Uint8Array(n);
      // The first row of each track this group brings without its info yet: only those rows' info is read.
      let wanted: number[] | undefined;
      group++;
      for (let i = 0; i < n; i++) {
        const bucket = userBucketOf(userIds[i]!);
        inPass[i] = passes === 1 || (bucket >= first && bucket < end) ? 1 : 0;
        const t = tracks[i]!;
        if (catalogued[i] && accumulator.needsTrackInfo(t)) {
          if (t >= askedIn.length) askedIn = withRoom(askedIn, accumulator.tracks);
          if (askedIn[t] !== group) {
            askedIn[t] = group;
            (wanted ??= []).push(i);
          }
        }
      }
      if (wanted) {
        const info = await reader.readTrackInfo(g, Int32Array.from(wanted), range);
        for (const [k, i] of wanted.entries()) {
          // Every event of a track carries the same enrichment: taken once per track, from its bytes.
          info.track_name.textInto(k, trackInfo.name);
          info.artists.textInto(k, trackInfo.artists);
          info.genres.textInto(k, trackInfo.genres);
          trackInfo.durationMs = info.duration_ms.number(k) ?? 0;
          trackInfo.popularity = info.popularity.number(k) ?? 0;
          accumulator.setTrackInfoBytes(tracks[i]!, trackInfo);
        }
      }
      let groupDuplicates: number[] | undefined;
      for (let i = 0; i < n; i++) {
        if (!inPass[i]) continue;
        rows++;
        if (accumulator.addPlay(userIds[i]!, tracks[i]!, listenTimes[i]!, catalogued[i] === 1)) events++;
        else if (counting) (groupDuplicates ??= []).push(i);
      }
      if (!groupDuplicates) continue;
      duplicate += groupDuplicates.length;
      // A pack's duplicates are its files': the rows say whose (read only when there are any).
      const sources = fileId === undefined ? await reader.readSourceFiles(g, groupDuplicates, range) : undefined;
      groupDuplicates.forEach((i, k) => {
        const file = sources ? sources[k]! : fileId!;
        duplicateByFile.set(file, (duplicateByFile.get(file) ?? 0) + 1);
      });
    }
  }
  return { rows, rowsRead, duplicate, duplicateByFile, events };
}

/**
 * SPEC 4 on small, explicit data. Every expected value below is worked out by
 * hand in the comments next to it, not re-derived with the code under test.
 */
import { describe, expect, it } from 'vitest';
import {
  decodePartialHeader,
  EventKeySet,
  KpiAccumulator,
  KpiMerge,
  PartialFormatError,
  StringPool,
  UserHourMasks,
  type EncodedPartial,
  type GenreKpiRow,
  type HourlyKpiRow,
  type TrackInfo,
} from '@musicflow/kpi';
import { compareBytes, mixInt32 } from '../../packages/kpi/src/string-pool.ts';
import { bucketsOfPass, USER_BUCKETS, userBucketOf } from '@musicflow/lake';
import { passesForSlots, passesNeeded } from '../../services/kpi/src/date-pass.ts';

const userPassOf = (user: number, passes: number) => {
  const bucket = userBucketOf(user);
  return Array.from({ length: passes }, (_, pass) => bucketsOfPass(pass, passes)).findIndex(([first, end]) => bucket >= first && bucket < end);
};
import { parseListenTime } from '@musicflow/ingest';

const at = (iso: string) => Date.parse(iso);

const track = (name: string, artists: string[], genres: string[], durationMs: number, popularity: number): TrackInfo => ({
  name,
  artists,
  genres,
  durationMs,
  popularity,
});

// trk-pop: pop only; trk-mix: pop AND rock, credited to A;B; trk-abc: rock only.
const CATALOGUE: Record<string, TrackInfo> = {
  'trk-pop': track('Pop Song', ['A'], ['pop'], 200_000, 80),
  'trk-mix': track('Mixed Song', ['A', 'B'], ['pop', 'rock'], 100_000, 50),
  'trk-abc': track('Abc Song', ['C'], ['rock'], 300_000, 20),
};

function accumulate(events: [userId: number, trackId: string, iso: string][]): KpiAccumulator {
  const acc = new KpiAccumulator();
  for (const [user, trackId, iso] of events) acc.add(user, trackId, at(iso), CATALOGUE[trackId]);
  return acc;
}

const genreRow = (rows: GenreKpiRow[], date: string, genre: string) => rows.find((r) => r.listenDate === date && r.genre === genre);
const hourRow = (rows: HourlyKpiRow[], date: string, hour: number) => rows.find((r) => r.listenDate === date && r.listenHour === hour);

describe('genre KPIs (SPEC 4.1)', () => {
  // Hour 10 of 2024-06-25: trk-pop x3, trk-mix x1, trk-abc x1, one unknown track, one exact duplicate.
  const acc = accumulate([
    [1, 'trk-pop', '2024-06-25T10:00:00Z'],
    [2, 'trk-pop', '2024-06-25T10:01:00Z'],
    [3, 'trk-pop', '2024-06-25T10:02:00Z'],
    [1, 'trk-mix', '2024-06-25T10:03:00Z'],
    [1, 'trk-abc', '2024-06-25T10:04:00Z'],
    [4, 'unknown-track', '2024-06-25T10:05:00Z'],
    [1, 'trk-pop', '2024-06-25T10:00:00Z'], // exact duplicate of the first event
  ]);
  const { genre, hourly } = acc.result();

  it('has one row per (date, genre) for genres that were played, none for unknown tracks', () => {
    expect(genre.map((r) => `${r.listenDate}/${r.genre}`)).toEqual(['2024-06-25/pop', '2024-06-25/rock']);
  });

  it('pop: plays weigh averages (a track played 3 times weighs 3)', () => {
    // plays: trk-pop 3 + trk-mix 1 = 4
    // avg duration: (3*200000 + 100000) / 4 = 175000 (an unweighted mean over tracks would be 150000)
    // avg popularity: (3*80 + 50) / 4 = 72.5 (unweighted: 65)
    // popularity_index: 4 * 72.5 / 100 = 2.9
    expect(genreRow(genre, '2024-06-25', 'pop')).toEqual({
      listenDate: '2024-06-25',
      genre: 'pop',
      listenCount: 4,
      avgTrackDurationMs: 175_000,
      avgPopularity: 72.5,
      popularityIndex: expect.closeTo(2.9, 12),
      mostPopularTrackId: 'trk-pop',
      mostPopularTrackName: 'Pop Song',
      mostPopularTrackPlays: 3,
    });
  });

  it('rock: a multi-genre track counts in each of its genres; a tie goes to the smallest track_id', () => {
    // plays: trk-mix 1 + trk-abc 1 = 2; avg duration (100000+300000)/2 = 200000; avg popularity (50+20)/2 = 35
    // popularity_index 2 * 35 / 100 = 0.7; tie 1-1 between trk-mix (seen first) and trk-abc -> trk-abc
    expect(genreRow(genre, '2024-06-25', 'rock')).toEqual({
      listenDate: '2024-06-25',
      genre: 'rock',
      listenCount: 2,
      avgTrackDurationMs: 200_000,
      avgPopularity: 35,
      popularityIndex: expect.closeTo(0.7, 12),
      mostPopularTrackId: 'trk-abc',
      mostPopularTrackName: 'Abc Song',
      mostPopularTrackPlays: 1,
    });
  });

  it('hourly: multi-genre track counts once; unknown tracks count; duplicates count once', () => {
    // distinct events: 6 (7 minus the duplicate); users 1,2,3,4; tracks trk-pop, trk-mix, trk-abc, unknown-track
    // artists: A = 3 (trk-pop) + 1 (trk-mix) = 4, B = 1, C = 1
    expect(hourly).toEqual([
      {
        listenDate: '2024-06-25',
        listenHour: 10,
        uniqueListeners: 4,
        totalPlays: 6,
        uniqueTracks: 4,
        trackDiversityIndex: 4 / 6,
        topArtist: 'A',
        topArtistPlays: 4,
      },
    ]);
  });

  it('the most popular track tie-break is by track_id in code-point order, not by first seen', () => {
    const a = new KpiAccumulator();
    const info = (name: string) => track(name, ['X'], ['g'], 1000, 10);
    // Seen in this order, each played twice: 'b', '\u{1F600}', '\uFF5E', 'a'. Smallest code point: 'a'.
    for (const id of ['b', '\u{1F600}', '\uFF5E', 'a']) {
      a.add(1, id, at('2024-01-01T00:00:00Z'), info(`name ${id}`));
      a.add(2, id, at('2024-01-01T00:00:00Z'), info(`name ${id}`));
    }
    a.add(3, 'b', at('2024-01-01T00:00:00Z'), info('name b')); // b now leads with 3
    expect(a.result().genre[0]).toMatchObject({ mostPopularTrackId: 'b', mostPopularTrackName: 'name b', mostPopularTrackPlays: 3 });

    const b = new KpiAccumulator();
    // Tie between an astral-plane id and a U+FFxx id: U+FF5E (65374) < U+1F600 (128512), though JS `<` says otherwise.
    expect('\u{1F600}' < '\uFF5E').toBe(true);
    b.add(1, '\u{1F600}', at('2024-01-01T00:00:00Z'), info('emoji'));
    b.add(1, '\uFF5E', at('2024-01-01T00:00:00Z'), info('tilde'));
    expect(b.result().genre[0]).toMatchObject({ mostPopularTrackId: '\uFF5E', mostPopularTrackName: 'tilde', mostPopularTrackPlays: 1 });
  });
});

describe('hourly KPIs (SPEC 4.2)', () => {
  it('credits every artist of an A;B credit with the play', () => {
    const acc = new KpiAccumulator();
    const duo = track('Duo', ['X', 'Y'], ['g'], 1000, 10);
    const solo = track('Solo', ['Y'], ['g'], 1000, 10);
    const other = track('Other', ['W'], ['g'], 1000, 10);
    acc.add(1, 'duo', at('2024-03-01T12:00:00Z'), duo);
    acc.add(2, 'duo', at('2024-03-01T12:10:00Z'), duo);
    acc.add(3, 'solo', at('2024-03-01T12:20:00Z'), solo);
    acc.add(4, 'other', at('2024-03-01T12:30:00Z'), other);
    acc.add(5, 'other', at('2024-03-01T12:31:00Z'), other);
    // X = 2, Y = 2 (duo) + 1 (solo) = 3, W = 2: top Y with 3 (only if Y is credited for duo plays)
    expect(acc.result().hourly[0]).toMatchObject({ topArtist: 'Y', topArtistPlays: 3, totalPlays: 5, uniqueTracks: 3, uniqueListeners: 5 });
  });

  it('breaks artist ties by the smallest name in code-point order (astral vs U+FFxx)', () => {
    const acc = new KpiAccumulator();
    // Seen first: the astral name. Code points: U+1F3B8 (127928) > U+FF21 (65313), so the fullwidth 'Ａ' wins;
    // JS `<` compares UTF-16 units (0xD83C < 0xFF21) and would pick the guitar.
    acc.add(1, 't1', at('2024-03-01T05:00:00Z'), track('t1', ['\u{1F3B8}band'], ['g'], 1000, 10));
    acc.add(2, 't2', at('2024-03-01T05:00:00Z'), track('t2', ['\uFF21band'], ['g'], 1000, 10));
    expect(acc.result().hourly[0]).toMatchObject({ topArtist: '\uFF21band', topArtistPlays: 1 });

    const ascii = new KpiAccumulator();
    // Seen in the order Zed, abe, Abe: code points 'A' (65) < 'Z' (90) < 'a' (97) -> 'Abe' (not locale order, not first/last seen)
    for (const [i, name] of ['Zed', 'abe', 'Abe'].entries()) {
      ascii.add(i + 1, `t${i}`, at('2024-03-01T05:00:00Z'), track(name, [name], ['g'], 1000, 10));
    }
    expect(ascii.result().hourly[0]).toMatchObject({ topArtist: 'Abe', topArtistPlays: 1 });
  });

  it('top_artist is null when no play of the hour has a known track, and unknown tracks are in no genre', () => {
    const acc = new KpiAccumulator();
    acc.add(1, 'nope-1', at('2024-03-01T07:00:00Z'), undefined);
    acc.add(2, 'nope-1', at('2024-03-01T07:05:00Z'), undefined);
    acc.add(2, 'nope-2', at('2024-03-01T07:06:00Z'), undefined);
    acc.add(3, 'known', at('2024-03-01T08:00:00Z'), track('Known', ['K'], ['jazz'], 1000, 40));
    const { genre, hourly } = acc.result();
    expect(hourly).toEqual([
      // 3 plays, users 1 and 2, tracks nope-1 and nope-2: diversity 2/3
      {
        listenDate: '2024-03-01',
        listenHour: 7,
        uniqueListeners: 2,
        totalPlays: 3,
        uniqueTracks: 2,
        trackDiversityIndex: 2 / 3,
        topArtist: null,
        topArtistPlays: null,
      },
      {
        listenDate: '2024-03-01',
        listenHour: 8,
        uniqueListeners: 1,
        totalPlays: 1,
        uniqueTracks: 1,
        trackDiversityIndex: 1,
        topArtist: 'K',
        topArtistPlays: 1,
      },
    ]);
    expect(genre.map((g) => [g.genre, g.listenCount])).toEqual([['jazz', 1]]);
  });

  it('counts an exact duplicate (same user, track, instant) once, but not near-duplicates', () => {
    const acc = new KpiAccumulator();
    const t = track('T', ['A'], ['g'], 1000, 10);
    expect(acc.add(1, 'x', at('2024-03-01T09:00:00.000Z'), t)).toBe(true);
    expect(acc.add(1, 'x', at('2024-03-01T09:00:00.000Z'), t)).toBe(false); // duplicate
    // The same instant written with an offset is the same instant: a duplicate too.
    expect(acc.add(1, 'x', parseListenTime('2024-03-01T11:00:00+02:00')!, t)).toBe(false);
    expect(acc.add(1, 'x', at('2024-03-01T09:00:00.001Z'), t)).toBe(true); // 1 ms later
    expect(acc.add(2, 'x', at('2024-03-01T09:00:00.000Z'), t)).toBe(true); // another user
    expect(acc.add(1, 'y', at('2024-03-01T09:00:00.000Z'), undefined)).toBe(true); // another track
    const { genre, hourly } = acc.result();
    expect(hourly[0]).toMatchObject({ totalPlays: 4, uniqueListeners: 2, uniqueTracks: 2, topArtist: 'A', topArtistPlays: 3 });
    expect(genre[0]).toMatchObject({ listenCount: 3, mostPopularTrackPlays: 3 });
  });

  it('takes dates and hours in UTC, also for events near midnight and written with offsets', () => {
    const acc = new KpiAccumulator();
    const t = track('T', ['A'], ['g'], 1000, 10);
    acc.add(1, 'x', at('2024-06-25T23:59:59.999Z'), t);
    acc.add(2, 'x', at('2024-06-26T00:00:00.000Z'), t);
    // 01:30 at +02:00 is 23:30 UTC the day before.
    acc.add(3, 'x', parseListenTime('2024-06-26T01:30:00+02:00')!, t);
    // 19:15 at -05:00 is 00:15 UTC the next day.
    acc.add(4, 'x', parseListenTime('2024-06-25 19:15:00-0500')!, t);
    // New Year across a year boundary.
    acc.add(5, 'x', parseListenTime('2024-12-31T23:00:00-01:00')!, t);
    const { genre, hourly } = acc.result();
    expect(hourly.map((h) => [h.listenDate, h.listenHour, h.totalPlays])).toEqual([
      ['2024-06-25', 23, 2],
      ['2024-06-26', 0, 2],
      ['2025-01-01', 0, 1],
    ]);
    expect(genre.map((g) => [g.listenDate, g.listenCount])).toEqual([
      ['2024-06-25', 2],
      ['2024-06-26', 2],
      ['2025-01-01', 1],
    ]);
  });

  it('orders rows by date, then genre in code-point order / hour numerically', () => {
    const acc = new KpiAccumulator();
    acc.add(1, 'a', at('2024-01-02T10:00:00Z'), track('a', ['A'], ['b-genre'], 1, 1));
    acc.add(1, 'b', at('2024-01-02T09:00:00Z'), track('b', ['A'], ['\u{1F3B5}', '\uFF21', 'Zouk', 'a-genre'], 1, 1));
    acc.add(1, 'c', at('2024-01-01T23:00:00Z'), track('c', ['A'], ['z'], 1, 1));
    const { genre, hourly } = acc.result();
    expect(genre.map((g) => `${g.listenDate} ${g.genre}`)).toEqual([
      '2024-01-01 z',
      '2024-01-02 Zouk',
      '2024-01-02 a-genre',
      '2024-01-02 b-genre',
      '2024-01-02 \uFF21',
      '2024-01-02 \u{1F3B5}',
    ]);
    expect(hourly.map((h) => `${h.listenDate} ${h.listenHour}`)).toEqual(['2024-01-01 23', '2024-01-02 9', '2024-01-02 10']);
  });
});

describe('compareBytes over UTF-8', () => {
  const compare = (a: string, b: string) => compareBytes(Buffer.from(a), Buffer.from(b));
  it('orders by Unicode code point, unlike UTF-16 `<`', () => {
    expect(compare('\uFF21', '\u{1F600}')).toBeLessThan(0);
    expect(compare('\u{1F600}', '\uFF21')).toBeGreaterThan(0);
    expect(compare('\uE000', '\u{10000}')).toBeLessThan(0);
    expect(compare('\u{10000}', '\u{10001}')).toBeLessThan(0);
    expect(compare('ab', 'abc')).toBeLessThan(0);
    expect(compare('abc', 'ab')).toBeGreaterThan(0);
    expect(compare('x\u{1F600}', 'x\u{1F600}')).toBe(0);
    expect(compare('', '')).toBe(0);
    expect(compare('B', 'a')).toBeLessThan(0);
    expect(['\u{1F600}', 'b', '\uFF21', 'B', 'a\u{1F600}', 'a\uFFFF'].sort(compare)).toEqual(['B', 'a\uFFFF', 'a\u{1F600}', 'b', '\uFF21', '\u{1F600}']);
  });
});

describe('StringPool', () => {
  it('numbers strings in the order first seen and finds them by their bytes, through growth', () => {
    const pool = new StringPool();
    const words = Array.from({ length: 5000 }, (_, i) => (i % 3 ? `trk-${i}` : `\u{1F3B5}${i}é`));
    expect(words.map((w) => pool.intern(w))).toEqual(words.map((_, i) => i));
    expect(words.map((w) => pool.intern(w))).toEqual(words.map((_, i) => i));
    expect(pool.size).toBe(5000);
    expect(pool.text(4998)).toBe(words[4998]);
    const bytes = Buffer.from(`xx${words[3]}yy`);
    expect(pool.find(bytes, 2, bytes.length - 2)).toBe(3);
    expect(pool.find(bytes, 0, bytes.length)).toBe(-1);
    expect(pool.intern('')).toBe(5000);
    expect(pool.intern('')).toBe(5000);
    // Any range holding the same bytes finds it; a prefix or a longer range does not.
    const text = Buffer.from(`,${words.slice(0, 50).join(',')},trk-5000,id-3`);
    let at = 1;
    for (let i = 0; i < 50; i++) {
      const end = at + Buffer.byteLength(words[i]!);
      expect(pool.find(text, at, end)).toBe(i);
      at = end + 1;
    }
    expect(pool.find(text, at, at + 8)).toBe(-1); // trk-5000
    expect(pool.find(text, 2, 5)).toBe(-1); // a prefix
  });

  it('finds the same strings through its filter, sized ahead or not, and drops the filter when a string is added', () => {
    const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => Buffer.from(`zzGenTrack${String(from + i).padStart(12, '0')}`));
    const kept = ids(20_000);
    const others = ids(80_000, 20_000);
    const sized = new StringPool(kept.length, kept.length * 22);
    const grown = new StringPool();
    for (const id of kept) expect(sized.internBytes(id, 0, id.length)).toBe(grown.internBytes(id, 0, id.length));
    sized.buildFilter();
    for (const [i, id] of kept.entries()) expect(sized.find(id, 0, id.length)).toBe(i);
    expect(others.filter((id) => sized.find(id, 0, id.length) >= 0)).toEqual([]);
    // Added after the filter was built: found.
    expect(sized.internBytes(others[0]!, 0, others[0]!.length)).toBe(kept.length);
    expect(sized.find(others[0]!, 0, others[0]!.length)).toBe(kept.length);
    expect(sized.find(kept[7]!, 0, kept[7]!.length)).toBe(7);
  });
});

describe('mixInt32', () => {
  it('spreads the users of one bucket over a whole table (a row group or pass holds only such users)', () => {
    const users: number[] = [];
    for (let u = 1; users.length < 8192; u++) if (userBucketOf(u) === 5) users.push(u);
    const slots = 1 << 14;
    const taken = new Uint8Array(slots);
    let longestProbe = 0;
    for (const user of users) {
      let probe = 0;
      for (let i = mixInt32(user) & (slots - 1); taken[i]; i = (i + 1) & (slots - 1)) probe++;
      taken[(mixInt32(user) + probe) & (slots - 1)] = 1;
      longestProbe = Math.max(longestProbe, probe);
    }
    // A multiplicative hash's top bits (the bucket) put these 8,192 users in 256 slots: probes of thousands.
    expect(longestProbe).toBeLessThan(64);
  });
});

describe('UserHourMasks', () => {
  it('counts each user once per hour it played in, through growth, user 0 and the largest int32 included', () => {
    const masks = new UserHourMasks(16);
    // 30,000 users; user u plays in hours u % 24 and (u * 7) % 24, twice each.
    const users = Array.from({ length: 30_000 }, (_, i) => (i === 1 ? 2_147_483_647 : i));
    for (let round = 0; round < 2; round++) {
      for (const u of users) {
        masks.set(u, 1 << (u % 24));
        masks.set(u, 1 << ((u * 7) % 24));
      }
    }
    const want = new Float64Array(24);
    for (const u of users) {
      want[u % 24]!++;
      if ((u * 7) % 24 !== u % 24) want[(u * 7) % 24]!++;
    }
    expect(masks.size).toBe(users.length);
    expect(masks.countPerHour()).toEqual(want);
  });
});

describe('EventKeySet', () => {
  it('keeps every distinct key through growth and refuses each again', () => {
    const set = new EventKeySet(16);
    const base = 1_000;
    const n = 50_000;
    let added = 0;
    for (let i = 0; i < n; i++) if (set.add(i % 997, i % 13, base + i)) added++;
    expect(added).toBe(n);
    expect(set.size).toBe(n);
    let again = 0;
    for (let i = 0; i < n; i++) if (set.add(i % 997, i % 13, base + i)) again++;
    expect(again).toBe(0);
    expect(set.size).toBe(n);
  });

  it('holds the number of keys it was sized for without growing', () => {
    const set = new EventKeySet(100_000);
    const capacity = set.capacity;
    for (let i = 0; i < 100_000; i++) set.add(i, i % 7, i * 3);
    expect(set.size).toBe(100_000);
    expect(set.capacity).toBe(capacity);
    // Just enough slots for a load of 3/4, not rounded up to a power of two (262,144).
    expect(capacity).toBe(133_335);
    // Full to 3/4, every key is still found (probes wrap past the last slot).
    let again = 0;
    for (let i = 0; i < 100_000; i++) if (set.add(i, i % 7, i * 3)) again++;
    expect(again).toBe(0);
  });

  it('tells apart keys differing in one part only, including the first and last millisecond of a day', () => {
    const set = new EventKeySet();
    const t = 43_200_000;
    expect(set.add(1, 1, t)).toBe(true);
    expect(set.add(1, 1, 0)).toBe(true);
    expect(set.add(1, 1, 86_399_999)).toBe(true);
    expect(set.add(2, 1, t)).toBe(true);
    expect(set.add(1, 2, t)).toBe(true);
    expect(set.add(1, 1, t + 1)).toBe(true);
    expect(set.add(2_147_483_647, 0, t)).toBe(true);
    expect(set.add(1, 1, t)).toBe(false);
    expect(set.add(2_147_483_647, 0, t)).toBe(false);
    expect(set.add(1, 1, 86_399_999)).toBe(false);
    expect(set.size).toBe(7);
  });
});

describe('adding plays by interned track id', () => {
  it('gives the tables of add(), info attached the first time a track has it, dates interleaved', () => {
    const events: [number, string, string][] = [
      [1, 'trk-abc', '2024-06-25T10:00:00Z'],
      [2, 'trk-mix', '2024-06-26T11:00:00Z'],
      [3, 'trk-pop', '2024-06-25T10:05:00Z'],
      [1, 'trk-abc', '2024-06-25T10:00:00Z'], // exact duplicate
      [4, 'trk-mix', '2024-06-25T23:59:59Z'],
      [2, 'trk-pop', '2024-06-26T11:30:00Z'],
    ];
    const byAdd = accumulate(events);
    const byId = new KpiAccumulator();
    const added = events.map(([user, trackId, iso], i) => {
      const t = byId.internTrack(trackId);
      // The first play of trk-abc arrives without info (as from a part written before the catalogue had it).
      const info = i === 0 ? undefined : CATALOGUE[trackId];
      if (info && byId.needsTrackInfo(t)) byId.setTrackInfo(t, info);
      return byId.addPlay(user, t, at(iso), info !== undefined);
    });
    expect(added).toEqual([true, true, true, false, true, true]);
    // trk-abc's first play had no info: it counts in hourly KPIs, not in rock.
    const rock = byId.result().genre.find((r) => r.listenDate === '2024-06-25' && r.genre === 'rock');
    expect(rock?.listenCount).toBe(1); // trk-mix only
    expect(byId.result().hourly).toEqual(byAdd.result().hourly);
    expect(byId.result().genre.filter((r) => r.genre !== 'rock')).toEqual(byAdd.result().genre.filter((r) => r.genre !== 'rock'));
  });

  it("takes a track's info from byte ranges inside a bigger buffer (a page's dictionary), `;` lists cut within them", () => {
    const events: [number, string, string][] = [
      [1, 'trk-mix', '2024-06-25T10:00:00Z'],
      [2, 'trk-abc', '2024-06-25T10:30:00Z'],
      [3, 'trk-mix', '2024-06-25T11:00:00Z'],
    ];
    const byRanges = new KpiAccumulator();
    for (const [user, trackId, iso] of events) {
      const t = byRanges.internTrack(trackId);
      const info = CATALOGUE[trackId]!;
      if (byRanges.needsTrackInfo(t)) {
        // Each value between neighbours that a scan past its end would take in (no `;` right after a list).
        const page = Buffer.from(`x${info.name}|${info.artists.join(';')}|${info.genres.join(';')}|w;v`);
        const name = { bytes: page, start: 1, end: 1 + Buffer.byteLength(info.name) };
        const artists = { bytes: page, start: name.end + 1, end: name.end + 1 + Buffer.byteLength(info.artists.join(';')) };
        const genres = { bytes: page, start: artists.end + 1, end: artists.end + 1 + Buffer.byteLength(info.genres.join(';')) };
        byRanges.setTrackInfoBytes(t, { name, artists, genres, durationMs: info.durationMs, popularity: info.popularity });
      }
      byRanges.addPlay(user, t, at(iso), true);
    }
    expect(byRanges.result()).toEqual(accumulate(events).result());
  });
});

describe('passes over shares of the users', () => {
  // 3 dates x 2,000 plays: 40 users, all three tracks and an unknown one, every 9th play repeated exactly,
  // and every 7th play of trk-mix arriving without catalogue info (as from a part written before the catalogue had it).
  const plays: { user: number; trackId: string; time: number; catalogued: boolean }[] = [];
  const ids = ['trk-pop', 'trk-mix', 'trk-abc', 'unknown-track'];
  for (let i = 0; i < 6000; i++) {
    const trackId = ids[(i * 7) % 4]!;
    const play = {
      user: 1 + ((i * 13) % 40),
      trackId,
      time: at('2024-06-25T00:00:00Z') + (i % 3) * 86_400_000 + ((i * 7919) % 86_400) * 1000,
      catalogued: trackId !== 'unknown-track' && !(trackId === 'trk-mix' && i % 7 === 0),
    };
    plays.push(play);
    if (i % 9 === 0) plays.push({ ...play });
  }
  const addAll = (acc: KpiAccumulator, which: (user: number) => boolean) => {
    let duplicates = 0;
    for (const p of plays) {
      const t = acc.internTrack(p.trackId);
      if (p.catalogued && acc.needsTrackInfo(t)) acc.setTrackInfo(t, CATALOGUE[p.trackId]!);
      if (which(p.user) && !acc.addPlay(p.user, t, p.time, p.catalogued)) duplicates++;
    }
    return duplicates;
  };

  /** A partial's bytes, as a pass job writes it. */
  const bytesOf = (partial: EncodedPartial) => Buffer.concat([partial.header, ...partial.shards()]);
  /** Merges whole partials `groupShards` shards at a time, as a date job reads them. */
  const mergeBytes = (partials: Buffer[], groupShards: number) => {
    const headers = partials.map((p, i) => decodePartialHeader(p, `partial ${i}`));
    const merge = new KpiMerge(headers);
    for (let s = 0; s < merge.shards; s += groupShards) {
      const end = Math.min(merge.shards, s + groupShards);
      merge.addGroup(
        partials.map((p, i) => p.subarray(headers[i]!.headerBytes + headers[i]!.shardOffsets[s]!, headers[i]!.headerBytes + headers[i]!.shardOffsets[end]!)),
      );
    }
    return merge.result();
  };

  it('give the tables and duplicates of one pass over everyone, merged from their partials shard group by shard group', () => {
    const whole = new KpiAccumulator();
    const wholeDuplicates = addAll(whole, () => true);
    const passes = 3;
    const partials: Buffer[] = [];
    let splitDuplicates = 0;
    for (let pass = 0; pass < passes; pass++) {
      const share = new KpiAccumulator({ expectedPlaysPerDate: 100 });
      splitDuplicates += addAll(share, (user) => userPassOf(user, passes) === pass);
      partials.push(bytesOf(share.encodePartial()));
    }
    expect(wholeDuplicates).toBe(Math.ceil(6000 / 9));
    expect(splitDuplicates).toBe(wholeDuplicates);
    // One shard at a time, several, and all at once: the same rows.
    for (const groupShards of [1, 5, 64]) expect(mergeBytes(partials, groupShards)).toEqual(whole.result());
    // The pass jobs finish in any order: merged in reverse order, the rows are the same (every partial has the same info).
    expect(mergeBytes([...partials].reverse(), 7)).toEqual(whole.result());
    // Each user's plays are in exactly one pass, and every pass has some.
    const perPass = [0, 1, 2].map((pass) => new Set(plays.map((p) => p.user).filter((u) => userPassOf(u, passes) === pass)).size);
    expect(perPass.reduce((a, b) => a + b, 0)).toBe(40);
    expect(Math.min(...perPass)).toBeGreaterThan(0);
  });

  it("take a track's catalogue info from the first partial that has it", () => {
    const first = new KpiAccumulator();
    first.add(1, 'trk-abc', at('2024-06-25T10:00:00Z'), undefined);
    const second = new KpiAccumulator();
    second.add(2, 'trk-abc', at('2024-06-25T11:00:00Z'), track('Second', ['S'], ['rock'], 1000, 10));
    const third = new KpiAccumulator();
    third.add(3, 'trk-abc', at('2024-06-25T12:00:00Z'), track('Third', ['T'], ['rock'], 3000, 30));
    const rows = mergeBytes(
      [first, second, third].map((a) => bytesOf(a.encodePartial())),
      64,
    );
    // Two catalogued plays, both counted with the second partial's info (1000 ms, popularity 10).
    expect(rows.genre).toEqual([
      {
        listenDate: '2024-06-25',
        genre: 'rock',
        listenCount: 2,
        avgTrackDurationMs: 1000,
        avgPopularity: 10,
        popularityIndex: 0.2,
        mostPopularTrackId: 'trk-abc',
        mostPopularTrackName: 'Second',
        mostPopularTrackPlays: 2,
      },
    ]);
    // Artists are credited with their own plays, whichever info the merge keeps.
    expect(rows.hourly.map((h) => [h.listenHour, h.topArtist])).toEqual([
      [10, null],
      [11, 'S'],
      [12, 'T'],
    ]);
  });

  it('refuse a partial that is cut short, of another version or shard count, naming it', () => {
    const acc = new KpiAccumulator();
    acc.add(1, 'trk-abc', at('2024-06-25T10:00:00Z'), CATALOGUE['trk-abc']);
    acc.add(2, 'trk-unknown', at('2024-06-25T10:00:00Z'), undefined);
    const good = bytesOf(acc.encodePartial());
    expect(() => mergeBytes([good.subarray(0, good.length - 3)], 64)).toThrow(/partial 0: truncated at byte/);
    expect(() => decodePartialHeader(Buffer.from('{"tracks":[]}'), 'old.json')).toThrow(new PartialFormatError('old.json: not a KPI partial'));
    const otherVersion = Buffer.from(good);
    otherVersion.writeUInt32LE(1, 8);
    expect(() => decodePartialHeader(otherVersion, 'v1')).toThrow('v1: KPI partial version 1, this release reads 3');
    const fewer = bytesOf(acc.encodePartial(8));
    expect(() => new KpiMerge([decodePartialHeader(good, 'a'), decodePartialHeader(fewer, 'b')])).toThrow(
      'KPI partials of one merge differ in shard count: a: 64, b: 8',
    );
  });

  it('count a play without catalogue info in hourly KPIs only, even once its track has info, and not towards the most popular track', () => {
    const acc = new KpiAccumulator();
    const t = acc.internTrack('trk-abc');
    acc.setTrackInfo(t, CATALOGUE['trk-abc']!);
    acc.addPlay(1, t, at('2024-06-25T10:00:00Z'), true);
    acc.addPlay(2, t, at('2024-06-25T10:30:00Z'), false);
    // trk-mix (rock too) has 2 plays in rock; trk-abc 1 in rock and 2 in the hour.
    const mix = acc.internTrack('trk-mix');
    acc.setTrackInfo(mix, CATALOGUE['trk-mix']!);
    acc.addPlay(3, mix, at('2024-06-25T11:00:00Z'), true);
    acc.addPlay(4, mix, at('2024-06-25T11:00:00Z'), true);
    const { genre, hourly } = acc.result();
    expect(genre.map((r) => [r.genre, r.listenCount, r.mostPopularTrackId, r.mostPopularTrackPlays])).toEqual([
      ['pop', 2, 'trk-mix', 2],
      ['rock', 3, 'trk-mix', 2],
    ]);
    expect(hourRow(hourly, '2024-06-25', 10)).toMatchObject({ totalPlays: 2, uniqueListeners: 2, uniqueTracks: 1, topArtist: 'C', topArtistPlays: 1 });
  });
});

describe('user buckets and passes', () => {
  it('puts every bucket in exactly one pass, passes taking contiguous ranges, for 1 to 4,096 passes', () => {
    for (const passes of [...Array.from({ length: 70 }, (_, i) => i + 1), 100, 200, 1000, 4095, USER_BUCKETS]) {
      const seen = new Array<number>(USER_BUCKETS).fill(-1);
      for (let pass = 0; pass < passes; pass++) {
        const [first, end] = bucketsOfPass(pass, passes);
        expect(end).toBeGreaterThan(first);
        for (let b = first; b < end; b++) {
          expect(seen[b]).toBe(-1);
          seen[b] = pass;
        }
      }
      expect(seen.every((p) => p >= 0)).toBe(true);
    }
  });

  it('spreads consecutive user ids evenly over the buckets', () => {
    const counts = new Array<number>(USER_BUCKETS).fill(0);
    for (let u = 1; u <= 1000 * USER_BUCKETS; u++) counts[userBucketOf(u)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(900);
    expect(Math.max(...counts)).toBeLessThan(1100);
  });
});

describe('how many passes a date takes', () => {
  const perPass = { events: 2_000_000, tracks: 300_000 };
  const datePassCount = (rows: number, tracks: number, settings: typeof perPass, slots: number) => passesForSlots(passesNeeded(rows, tracks, settings), slots);

  it('takes enough passes for its events and for its tracks, one for a date under both, at most one a bucket', () => {
    expect(datePassCount(1_999_999, 299_999, perPass, 1)).toBe(1);
    expect(datePassCount(3_000_000, 11_000, perPass, 1)).toBe(2);
    expect(datePassCount(3_000_000, 1_450_000, perPass, 1)).toBe(5);
    expect(datePassCount(0, 0, perPass, 1)).toBe(1);
    expect(datePassCount(1e12, 0, perPass, 1)).toBe(USER_BUCKETS);
  });

  it("rounds a split date's passes up to a multiple of the workers' job slots, at most doubling them", () => {
    // The long-tail day on two workers: 5 passes ended with one alone.
    expect(datePassCount(3_000_000, 1_450_000, perPass, 2)).toBe(6);
    expect(datePassCount(3_000_000, 1_450_000, perPass, 3)).toBe(6);
    expect(datePassCount(3_000_000, 1_450_000, perPass, 4)).toBe(8);
    expect(datePassCount(3_000_000, 11_000, perPass, 2)).toBe(2);
    // More slots than passes: at most twice the passes it needs.
    expect(datePassCount(3_000_000, 11_000, perPass, 16)).toBe(4);
    // A date that fits one pass is not split for the slots.
    expect(datePassCount(1_000_000, 11_000, perPass, 8)).toBe(1);
    expect(datePassCount(1e12, 0, perPass, 3)).toBe(USER_BUCKETS);
  });
});

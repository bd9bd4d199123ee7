import { StringPool } from '@musicflow/kpi';
import { fieldText, grow, type CsvByteBatch } from './csv-byte-reader.ts';
import { validateStreamRow, type StreamRowResult } from './stream-rules.ts';
import { parseListenTime } from './timestamp.ts';

const MAX_USER_ID = 2_147_483_647;
/** A user_id and listen_time that pass their rules: asking validateStreamRow about a track_id alone. */
const GOOD_USER_ID = '1';
const GOOD_LISTEN_TIME = '1970-01-01 00:00:00';

/**
 * The SPEC 2.1 row rules over the stream reader's byte batches, with no
 * string per row but listen_time's: user_id is read from its digits, track_id
 * is looked up by its bytes in a table of the chunk's distinct ids (decoded,
 * checked and given a hand-off index once each), listen_time is parsed from a
 * one-byte string. Any row these quick checks do not pass is decided by
 * `validateStreamRow` on its decoded fields, the one place of the rules, which
 * also names the reason.
 */
export class StreamRowChecker {
  /** The clean row's values, after `check` returned undefined. */
  userId = 0;
  trackIndex = 0;
  listenTime = 0;
  private readonly tracks = new TrackTable();

  constructor(
    private userCol: number,
    private trackCol: number,
    private timeCol: number,
    /** Gives each distinct track id its hand-off index (the run artifacts' CleanEventsWriter). */
    private readonly clean: { trackIndex(trackId: string): number; trackIndexBytes(bytes: Uint8Array, start: number, end: number): number },
  ) {}

  /**
   * The columns of the next segment's header. One checker serves a whole
   * chunk: the small files packed into it share its table of track ids, so a
   * track is decoded and checked once per chunk, not once per file.
   */
  setColumns(userCol: number, trackCol: number, timeCol: number): void {
    this.userCol = userCol;
    this.trackCol = trackCol;
    this.timeCol = timeCol;
  }

  /** Undefined when record `r` is a clean row (its values in this object's fields), else why it is not. */
  check(batch: CsvByteBatch, r: number): (StreamRowResult & { ok: false }) | undefined {
    const first = batch.firstField[r]!;
    const count = batch.firstField[r + 1]! - first;
    if (this.userCol < count && this.trackCol < count && this.timeCol < count) {
      const { bytes, starts, ends, escaped } = batch;
      const u = first + this.userCol;
      const t = first + this.trackCol;
      const l = first + this.timeCol;
      const userId = readUserId(bytes, starts[u]!, ends[u]!);
      if (userId > 0 && escaped[t] === 0) {
        const entry = this.tracks.find(bytes, starts[t]!, ends[t]!);
        if (this.tracks.ok[entry] === 1) {
          const listenTime = parseListenTime(bytes.toString('latin1', starts[l], ends[l]));
          if (listenTime !== undefined) {
            let index = this.tracks.index[entry]!;
            if (index < 0) this.tracks.index[entry] = index = this.clean.trackIndexBytes(bytes, starts[t]!, ends[t]!);
            this.userId = userId;
            this.trackIndex = index;
            this.listenTime = listenTime;
            return undefined;
          }
        }
      }
    }
    return this.slowCheck(batch, r, first, count);
  }

  private slowCheck(batch: CsvByteBatch, r: number, first: number, count: number): (StreamRowResult & { ok: false }) | undefined {
    const text = (col: number) => (col < count ? fieldText(batch, first + col) : '');
    const row = validateStreamRow(text(this.userCol), text(this.trackCol), text(this.timeCol));
    if (!row.ok) return row;
    this.userId = row.userId;
    this.trackIndex = this.clean.trackIndex(row.trackId);
    this.listenTime = row.listenTime;
    return undefined;
  }
}

/** The value of 1-10 ASCII digits in 1 .. 2^31-1, as validateStreamRow reads user_id; 0 for any other bytes. */
export function readUserId(bytes: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length < 1 || length > 10) return 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return 0;
    value = value * 10 + d;
  }
  return value <= MAX_USER_ID ? value : 0;
}

/**
 * 1-64 printable ASCII bytes but space: a track id every id rule (the
 * stream's, the catalogue's, the warehouse's 64 bytes) takes as it is, known
 * without decoding it (a long-tail chunk meets hundreds of thousands).
 */
export function plainTrackId(bytes: Buffer, start: number, end: number): boolean {
  if (end <= start || end - start > 64) return false;
  for (let i = start; i < end; i++) if (bytes[i]! < 0x21 || bytes[i]! > 0x7e) return false;
  return true;
}

/**
 * The chunk's distinct track_id byte strings (a `StringPool`): each is
 * decoded and checked once (`ok` 1 when its rules pass), and given a hand-off
 * index when a clean row first uses it.
 */
class TrackTable {
  ok = new Uint8Array(1024);
  index = new Int32Array(1024);
  private readonly ids = new StringPool();

  find(bytes: Buffer, start: number, end: number): number {
    const known = this.ids.size;
    const e = this.ids.internBytes(bytes, start, end);
    if (e < known) return e;
    if (e === this.ok.length) {
      this.ok = grow(this.ok, e * 2);
      this.index = grow(this.index, e * 2);
    }
    this.ok[e] = plainTrackId(bytes, start, end) || validateStreamRow(GOOD_USER_ID, bytes.toString('utf8', start, end), GOOD_LISTEN_TIME).ok ? 1 : 0;
    this.index[e] = -1;
    return e;
  }
}

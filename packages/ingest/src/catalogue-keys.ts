import { ByteStringSet } from './byte-strings.ts';
import type { CatalogueLookup } from './catalogue-source.ts';
import type { UserIdSet } from './run-ids.ts';
import { readUserId } from './stream-rows.ts';

/**
 * Keys any id rule takes (printable ASCII, at most 64 characters; up to ten
 * digits): a row with such a key that the run does not need is skipped
 * unread; any other key goes through the rules, so a row with an unusable id
 * is quarantined whoever needs it.
 */
const PLAIN_TRACK_ID = /^[\x21-\x7e]{1,64}$/;
const PLAIN_USER_ID = /^\d{1,10}$/;
const MAX_USER_ID = 2_147_483_647;

/**
 * The run's user ids as a catalogue lookup. `skipsKeyBytes` decides from the
 * bytes only keys that are ASCII digits of a positive int32, and skips
 * exactly where `skips` would on their text; every other row reaches
 * `skips`, so the two together are `skips` alone.
 */
export class RunUserKeys implements CatalogueLookup {
  readonly key = 'user_id';

  constructor(readonly wanted: UserIdSet) {}

  ids(): Iterable<number> {
    return this.wanted.values();
  }

  /** A row whose user_id is `text` is none of the run's; an id no user can have (0, over 2^31-1) is left to the rules. */
  skips(text: string | undefined): boolean {
    const key = (text ?? '').trim();
    if (!PLAIN_USER_ID.test(key)) return false;
    const id = Number(key);
    return id >= 1 && id <= MAX_USER_ID && !this.wanted.has(id);
  }

  skipsKeyBytes(bytes: Buffer, start: number, end: number): boolean {
    const id = readUserId(bytes, start, end);
    return id > 0 && !this.wanted.has(id);
  }
}

/**
 * The run's track ids as a catalogue lookup, also as a byte-keyed set:
 * `skipsKeyBytes` decides from the bytes only plain keys (printable ASCII,
 * where bytes and text are one), and skips exactly where `skips` would.
 */
export class RunTrackKeys implements CatalogueLookup {
  readonly key = 'track_id';
  private readonly bytes = new ByteStringSet();

  constructor(readonly wanted: ReadonlySet<string>) {
    for (const id of wanted) this.bytes.addText(id);
  }

  ids(): Iterable<string> {
    return this.wanted;
  }

  /** A row whose track_id is `text` is none of the run's. */
  skips(text: string | undefined): boolean {
    const key = text ?? '';
    return PLAIN_TRACK_ID.test(key) && !this.wanted.has(key);
  }

  skipsKeyBytes(bytes: Buffer, start: number, end: number): boolean {
    const length = end - start;
    if (length < 1 || length > 64) return false;
    for (let i = start; i < end; i++) {
      const c = bytes[i]!;
      if (c < 0x21 || c > 0x7e) return false;
    }
    return !this.bytes.has(bytes, start, end);
  }
}

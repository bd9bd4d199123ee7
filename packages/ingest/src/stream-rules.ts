import type { RejectReason } from '@musicflow/contracts';
import { UNUSABLE_CHARACTER } from '@musicflow/warehouse/text-contract';
import { parseListenTime } from './timestamp.ts';

export const STREAM_COLUMNS = ['user_id', 'track_id', 'listen_time'] as const;

export type StreamRowResult =
  { ok: true; userId: number; trackId: string; listenTime: number } | { ok: false; reason: RejectReason; field: string; value: string };

const USER_ID = /^[0-9]{1,10}$/;
/**
 * SPEC 2.1: 1-64 characters (code points), no whitespace, and none of the text
 * contract's unusable characters (controls, U+FFFD, lone surrogates): one
 * regex test per row on the fast path.
 */
const TRACK_ID = /^[^\s\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]{1,64}$/u;

/** SPEC 2.1 rules for one stream row; the first broken rule is the reason. */
export function validateStreamRow(userIdText: string, trackId: string, listenTimeText: string): StreamRowResult {
  const userId = USER_ID.test(userIdText) ? Number(userIdText) : NaN;
  if (!(userId > 0 && userId <= 2_147_483_647)) {
    return { ok: false, reason: 'invalid_user_id', field: 'user_id', value: userIdText };
  }
  if (!TRACK_ID.test(trackId)) {
    // A control character (tab and NUL included) or a byte that was not UTF-8 has a reason of its own.
    const reason = UNUSABLE_CHARACTER.test(trackId) ? 'invalid_track_id_characters' : 'invalid_track_id';
    return { ok: false, reason, field: 'track_id', value: trackId };
  }
  const listenTime = parseListenTime(listenTimeText);
  if (listenTime === undefined) {
    return { ok: false, reason: 'invalid_listen_time', field: 'listen_time', value: listenTimeText };
  }
  return { ok: true, userId, trackId, listenTime };
}

import type { RejectReason } from '@musicflow/contracts';
import { parseListenTime } from './timestamp.ts';

export const STREAM_COLUMNS = ['user_id', 'track_id', 'listen_time'] as const;

export type StreamRowResult =
  | { ok: true; userId: number; trackId: string; listenTime: number }
  | { ok: false; reason: RejectReason; field: string; value: string };

const USER_ID = /^[0-9]{1,10}$/;
const TRACK_ID = /^\S{1,64}$/;

/** SPEC 2.1 rules for one stream row; the first broken rule is the reason. */
export function validateStreamRow(userIdText: string, trackId: string, listenTimeText: string): StreamRowResult {
  const userId = USER_ID.test(userIdText) ? Number(userIdText) : NaN;
  if (!(userId > 0 && userId <= 2_147_483_647)) {
    return { ok: false, reason: 'invalid_user_id', field: 'user_id', value: userIdText };
  }
  if (!TRACK_ID.test(trackId)) return { ok: false, reason: 'invalid_track_id', field: 'track_id', value: trackId };
  const listenTime = parseListenTime(listenTimeText);
  if (listenTime === undefined) {
    return { ok: false, reason: 'invalid_listen_time', field: 'listen_time', value: listenTimeText };
  }
  return { ok: true, userId, trackId, listenTime };
}

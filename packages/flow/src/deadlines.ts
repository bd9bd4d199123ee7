import type { Config, Logger } from '@musicflow/config';
import { alertJobIds, type AlertPayload } from '@musicflow/contracts';
import { loadedDatesIn, type Warehouse } from '@musicflow/warehouse';
import { enqueueAlert } from './alerts.ts';
import type { PipelineQueues } from './queues.ts';

export type DeadlineLevel = 'warn' | 'error';

/** The newest listen date whose deadline at one level has passed, and whether its KPIs made it. */
export interface DeadlineStatus {
  level: DeadlineLevel;
  /** The setting, `HH:MM` UTC of the next day. */
  time: string;
  listenDate: string;
  dueAt: string;
  /** When the date's KPIs were last loaded; null while they are not. */
  loadedAt: string | null;
  state: 'met' | 'met-late' | 'missed';
}

const DAY_MS = 86_400_000;
/** An incident's Redis keys outlive any plausible lateness, then expire. */
const INCIDENT_TTL_S = 40 * 24 * 3600;

const levels = (config: Config): [DeadlineLevel, string][] =>
  [
    ['warn', config.DEADLINE_WARN],
    ['error', config.DEADLINE],
  ].filter((l): l is [DeadlineLevel, string] => l[1] !== undefined);

const dueAtOf = (listenDate: string, time: string) => Date.parse(`${listenDate}T${time}:00Z`) + DAY_MS;

/** The newest listen date due by `now` at `time` of the next day. */
export function dueDate(now: Date, time: string): string {
  const today = now.toISOString().slice(0, 10);
  const yesterday = new Date(Date.parse(today) - DAY_MS).toISOString().slice(0, 10);
  return dueAtOf(yesterday, time) <= now.getTime() ? yesterday : new Date(Date.parse(today) - 2 * DAY_MS).toISOString().slice(0, 10);
}

/** Each configured level's newest due date and its state, read from the warehouse. */
export async function readDeadlines(config: Config, db: Warehouse, now = new Date()): Promise<DeadlineStatus[]> {
  return Promise.all(
    levels(config).map(async ([level, time]) => {
      const listenDate = dueDate(now, time);
      const dueAt = dueAtOf(listenDate, time);
      const loaded = (await loadedDatesIn(db, listenDate, listenDate)).get(listenDate);
      const state = !loaded ? 'missed' : loaded.getTime() > dueAt ? 'met-late' : 'met';
      return { level, time, listenDate, dueAt: new Date(dueAt).toISOString(), loadedAt: loaded?.toISOString() ?? null, state };
    }),
  );
}

const incidentKey = (prefix: string, listenDate: string, what: string) => `${prefix}:deadline:${listenDate}:${what}`;
const openKey = (prefix: string) => `${prefix}:deadline:open`;

/**
 * Alerts on missed deadlines, once per listen date and level however many
 * replicas check (SET NX in Redis decides who sends), and once more when a
 * missed date is loaded after all ("recovered"). Open incidents are a Redis
 * set, so a date missed yesterday still recovers once today's date is due.
 */
export async function checkDeadlines(config: Config, queues: PipelineQueues, db: Warehouse, log: Logger, now = new Date()): Promise<DeadlineStatus[]> {
  const statuses = await readDeadlines(config, db, now);
  const redis = queues.connection;
  for (const s of statuses.filter((d) => d.state === 'missed')) {
    await redis.sadd(openKey(queues.prefix), s.listenDate);
    if (!(await redis.set(incidentKey(queues.prefix, s.listenDate, s.level), now.toISOString(), 'EX', INCIDENT_TTL_S, 'NX'))) continue;
    log.warn({ listenDate: s.listenDate, level: s.level, dueAt: s.dueAt }, 'deadline missed');
    if (config.ALERT_WEBHOOK_URL) await enqueueAlert(config, queues, alertJobIds.deadline(s.listenDate, s.level), missedAlert(s));
  }
  for (const listenDate of await redis.smembers(openKey(queues.prefix))) {
    const loaded = (await loadedDatesIn(db, listenDate, listenDate)).get(listenDate);
    if (!loaded) continue;
    if (await redis.set(incidentKey(queues.prefix, listenDate, 'recovered'), now.toISOString(), 'EX', INCIDENT_TTL_S, 'NX')) {
      const time = config.DEADLINE ?? config.DEADLINE_WARN!;
      const payload = recoveredAlert(listenDate, new Date(dueAtOf(listenDate, time)), loaded);
      log.info({ listenDate, loadedAt: loaded.toISOString() }, 'deadline met late');
      if (config.ALERT_WEBHOOK_URL) await enqueueAlert(config, queues, alertJobIds.recovered(listenDate), payload);
    }
    await redis.srem(openKey(queues.prefix), listenDate);
  }
  return statuses;
}

function missedAlert(s: DeadlineStatus): AlertPayload {
  return {
    text: `musicflow ${s.level === 'error' ? 'MISSED' : 'is about to miss'} the deadline of ${s.listenDate}: its KPIs were due by ${s.dueAt} (${s.level === 'error' ? 'DEADLINE' : 'DEADLINE_WARN'} ${s.time} UTC) and are not loaded`,
    kind: 'deadline',
    deadline: { listenDate: s.listenDate, level: s.level, dueAt: s.dueAt, loadedAt: null },
  };
}

function recoveredAlert(listenDate: string, dueAt: Date, loadedAt: Date): AlertPayload {
  const late = Math.round((loadedAt.getTime() - dueAt.getTime()) / 60_000);
  return {
    text: `musicflow recovered: the KPIs of ${listenDate} are loaded (${loadedAt.toISOString()}${late > 0 ? `, ${late} min after the deadline` : ''})`,
    kind: 'recovered',
    deadline: { listenDate, dueAt: dueAt.toISOString(), loadedAt: loadedAt.toISOString() },
  };
}

/** Runs checkDeadlines every DEADLINE_CHECK_INTERVAL while any deadline is set; a failed check is logged and tried again. */
export function watchDeadlines(config: Config, queues: PipelineQueues, warehouse: () => Promise<Warehouse>, log: Logger): { close(): void } {
  if (!levels(config).length) return { close: () => undefined };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    warehouse()
      .then((db) => checkDeadlines(config, queues, db, log))
      .catch((err: Error) => log.warn({ err: err.message }, 'deadline check failed'))
      .finally(() => (running = false));
  }, config.DEADLINE_CHECK_INTERVAL);
  timer.unref();
  return { close: () => clearInterval(timer) };
}

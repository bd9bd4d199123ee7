/**
 * Alerts: the loader (a run ended failed or partial, a data check failed, a
 * source's columns changed) and the freshness check
 * add jobs to their own queue, so a slow or absent receiver never holds a run;
 * the alert worker POSTs each one to ALERT_WEBHOOK_URL with retries.
 */
import { z } from 'zod';
import { blockedDateSchema, CHECK_SEVERITIES, schemaDriftSchema } from './checks.ts';

export const ALERTS_QUEUE = 'alerts';
/** The job scheduler on the alerts queue that checks freshness. */
export const FRESHNESS_SCHEDULER_ID = 'freshness';

export const alertJobIds = {
  /** One alert per run, whatever retries the loader needed. */
  run: (runId: string) => `alert-run-${runId}`,
  /** One alert per stale episode: the last success it is about (or `never`). */
  stale: (lastSuccessMillis: number | undefined) => `alert-stale-${lastSuccessMillis ?? 'never'}`,
  /** One alert per listen date and level missed, and one when the date is met late. */
  deadline: (listenDate: string, level: 'warn' | 'error') => `alert-deadline-${listenDate}-${level}`,
  recovered: (listenDate: string) => `alert-deadline-${listenDate}-recovered`,
};

/** The JSON body a receiver gets; `text` is what Slack (and compatible hooks) show. */
export const alertPayloadSchema = z.object({
  text: z.string(),
  kind: z.enum(['run', 'stale', 'deadline', 'recovered']),
  runId: z.string().optional(),
  trigger: z.string().optional(),
  status: z.string().optional(),
  counts: z
    .object({
      files: z.object({ total: z.number().int(), loaded: z.number().int(), rejected: z.number().int() }),
      rows: z.object({
        read: z.number().int(),
        valid: z.number().int(),
        rejected: z.number().int(),
        duplicate: z.number().int(),
        orphanTracks: z.number().int(),
        orphanUsers: z.number().int(),
      }),
    })
    .optional(),
  error: z.string().optional(),
  rejectedFiles: z.array(z.object({ file: z.string(), reasons: z.array(z.string()) })).optional(),
  failedChecks: z.array(z.object({ name: z.string(), detail: z.string().optional(), severity: z.enum(CHECK_SEVERITIES).optional() })).optional(),
  blockedDates: z.array(blockedDateSchema).optional(),
  schemaDrift: z.array(schemaDriftSchema).optional(),
  deadline: z
    .object({
      listenDate: z.string(),
      level: z.enum(['warn', 'error']).optional(),
      dueAt: z.string(),
      loadedAt: z.string().nullable(),
    })
    .optional(),
  freshness: z
    .object({
      lastSuccessfulRunAt: z.string().nullable(),
      lastSuccessfulRunAgeSeconds: z.number().nullable(),
      newestListenDate: z.string().nullable(),
      maxAgeSeconds: z.number(),
    })
    .optional(),
});
export type AlertPayload = z.infer<typeof alertPayloadSchema>;

/** A `deliver` job carries its payload; `freshness` jobs (from the scheduler) carry nothing. */
export const alertDeliverJobSchema = z.object({ payload: alertPayloadSchema });

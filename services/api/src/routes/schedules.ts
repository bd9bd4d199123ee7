import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { getSchedule, listSchedules, updateSchedule } from '../schedule.ts';
import { errorSchema, scheduleBody, scheduleParams, schedulesResponse, scheduleView, shortestCronInterval } from '../schemas.ts';

export const scheduleRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/schedules', {
    config: { redis: true },
    schema: { tags: ['schedules'], summary: 'Job schedulers with their pattern, time zone and next run time', response: { 200: schedulesResponse } },
    handler: async () => ({ schedules: await listSchedules(deps.schedulerQueue, deps.connection) }),
  });

  app.get('/schedules/:id', {
    config: { redis: true },
    schema: { tags: ['schedules'], summary: 'One job scheduler', params: scheduleParams, response: { 200: scheduleView, 400: errorSchema, 404: errorSchema } },
    handler: async (request) => {
      const found = await getSchedule(deps.schedulerQueue, deps.connection, request.params.id);
      if (!found) throw new HttpError(404, `schedule ${request.params.id} not found`);
      return found;
    },
  });

  app.put('/schedules/:id', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['schedules'],
      summary: 'Change the daily schedule (cron pattern, optional time zone)',
      description: 'The change holds across restarts until DAILY_CRON or TZ_SCHEDULE in the environment change.',
      params: scheduleParams,
      body: scheduleBody,
      response: { 200: scheduleView, 400: errorSchema },
    },
    handler: async (request) => {
      assertScheduleInterval(
        request.body.cron,
        request.body.tz ?? (await getSchedule(deps.schedulerQueue, deps.connection, request.params.id))?.tz ?? 'UTC',
        deps.config.SCHEDULE_MIN_INTERVAL,
      );
      const view = await updateSchedule(deps.schedulerQueue, deps.connection, request.params.id, request.body);
      request.log.info({ scheduler: view.id, cron: view.cron, tz: view.tz, nextRunAt: view.nextRunAt }, 'schedule changed');
      return view;
    },
  });
};

/** A schedule may not fire more often than SCHEDULE_MIN_INTERVAL: each firing starts a whole run. */
function assertScheduleInterval(cron: string, tz: string, minMs: number): void {
  const shortest = shortestCronInterval(cron, tz);
  if (shortest >= minMs) return;
  throw new HttpError(
    400,
    `body field cron: "${cron}" fires as often as every ${seconds(shortest)}, more often than SCHEDULE_MIN_INTERVAL allows (${seconds(minMs)}): choose a sparser pattern, or lower SCHEDULE_MIN_INTERVAL`,
  );
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Bull Board in a real browser (headless Chromium through playwright-core):
 * with the credentials it shows every stage queue and a finished run's jobs;
 * without them, nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { QUEUES } from '@musicflow/contracts';
import { buildApp } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { deleteKeys, makeBucket, waitFor, type Bucket } from './fixtures.ts';
import { launchChromium } from '../helpers/browser.ts';

const TOKEN = `board-${randomBytes(16).toString('hex')}`;
// Found, or installed, by the global setup (test/setup/chromium.ts).
const CHROMIUM = inject('chromiumPath');

describe('Bull Board in a browser', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  let runId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, 50);
    pipeline = await startPipeline(testConfig({ ...bucket.env, WAREHOUSE_URL: db, API_TOKEN: TOKEN }));
    app = await buildApp(pipeline.ctx);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const started = await fetch(`${base}/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    runId = ((await started.json()) as { runId: string }).runId;
    await waitFor('the run to finish', async () => {
      const run = (await (await fetch(`${base}/runs/${runId}`)).json()) as { status: string };
      return run.status === 'succeeded';
    });
    browser = await launchChromium(CHROMIUM);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it("with the credentials shows every stage queue and the finished run's jobs with their data", async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: TOKEN } });
    const page = await context.newPage();
    try {
      const response = await page.goto(`${base}/admin/queues`);
      expect(response?.status()).toBe(200);
      for (const name of Object.values(QUEUES)) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
      }
      await page.getByText('scheduler', { exact: true }).first().waitFor();

      await page.goto(`${base}/admin/queues/queue/${QUEUES.load}?status=completed`);
      await page.getByText(`load-${runId}`).first().waitFor({ timeout: 15_000 });
      // The job card shows the job's data: the run context with its id and trigger.
      await page.getByText('Data', { exact: true }).first().click();
      await page.getByText(`"${runId}"`).first().waitFor({ timeout: 15_000 });
      await page.getByText('"succeeded"').first().waitFor();

      await page.goto(`${base}/admin/queues/queue/${QUEUES.validate}?status=completed`);
      await page.getByText(`validate-${runId}`).first().waitFor({ timeout: 15_000 });
      // Progress as the stage reported it.
      await page.getByText('Progress', { exact: true }).first().click();
      await page.getByText('percent:').first().waitFor();
      await page.getByText('rows:').first().waitFor();
    } finally {
      await context.close();
    }
  });

  /**
   * Opens a URL and records what the server answered. Headless Chromium turns a
   * basic-auth challenge it cannot answer into a navigation error
   * (ERR_INVALID_AUTH_CREDENTIALS), so the answer is taken from the response event.
   */
  async function visit(credentials?: { username: string; password: string }) {
    const context = await browser.newContext(credentials ? { httpCredentials: credentials } : {});
    const page = await context.newPage();
    const answers: { url: string; status: number; challenge?: string; body: string }[] = [];
    page.on('response', async (response) => {
      answers.push({
        url: response.url(),
        status: response.status(),
        challenge: response.headers()['www-authenticate'],
        body: await response.text().catch(() => ''),
      });
    });
    try {
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        await page.goto(`${base}${path}`).catch((err: Error) => expect(err.message).toMatch(/ERR_INVALID_AUTH_CREDENTIALS|401/));
      }
      await page.waitForTimeout(200);
      return { answers, content: await page.content() };
    } finally {
      await context.close();
    }
  }

  it('without credentials, or with wrong ones, the browser gets a 401 and no queue', async () => {
    for (const credentials of [undefined, { username: 'admin', password: 'not-the-token' }]) {
      const { answers, content } = await visit(credentials);
      expect(answers.length).toBeGreaterThanOrEqual(2);
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.challenge).toMatch(/^Basic realm="musicflow"/);
        expect(answer.body).not.toContain(runId);
        for (const name of Object.values(QUEUES)) expect(answer.body).not.toContain(`"${name}"`);
      }
      expect(content).not.toContain(runId);
      expect(content).not.toContain('extractor');
    }
  });
});

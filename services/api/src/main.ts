import { serve } from '@musicflow/flow';
import { startApi } from './index.ts';

await serve('api', async (ctx) => [await startApi(ctx)]);

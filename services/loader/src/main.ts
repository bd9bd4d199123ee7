import { serve } from '@musicflow/flow';
import { startLoader } from './index.ts';

await serve('loader', async (ctx) => [await startLoader(ctx)]);

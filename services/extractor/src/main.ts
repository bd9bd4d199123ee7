import { serve } from '@musicflow/flow';
import { startExtractor } from './index.ts';

await serve('extractor', async (ctx) => [startExtractor(ctx)]);

import { serve } from '@musicflow/flow';
import { startTransformer } from './index.ts';

await serve('transformer', async (ctx) => [startTransformer(ctx)]);

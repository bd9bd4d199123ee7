import { serve } from '@musicflow/flow';
import { startValidator } from './index.ts';

await serve('validator', async (ctx) => [startValidator(ctx)]);

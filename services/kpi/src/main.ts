import { serve } from '@musicflow/flow';
import { startKpi } from './index.ts';

await serve('kpi', async (ctx) => [startKpi(ctx)]);

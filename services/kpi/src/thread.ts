import { threadProcessor } from '@musicflow/flow';
import { kpiStage } from './index.ts';

export default threadProcessor(kpiStage);

import { threadProcessor } from '@musicflow/flow';
import { transformStage } from './index.ts';

export default threadProcessor(transformStage);

import { threadProcessor } from '@musicflow/flow';
import { validateStage } from './index.ts';

export default threadProcessor(validateStage);

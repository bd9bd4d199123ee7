// Running the TypeScript sources without a build (development, tests, the bench): tsx's hooks
// transpile them, and the `@musicflow/source` export condition makes every workspace package
// resolve to its src/ instead of its dist/ (tsx alone would take `default`, the build).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

export const SOURCE_CONDITION = '@musicflow/source';

/** Registers both hooks in this thread (the CLI's main thread; worker threads get tsx from thread-entry.mjs). */
export function registerSourceLoader() {
  registerTsx();
  register(`data:text/javascript,${encodeURIComponent(conditionHook)}`);
}

// Chained before tsx's resolver: adds the condition, then resolves as usual.
const conditionHook = `export async function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: [${JSON.stringify(SOURCE_CONDITION)}, ...context.conditions] });
}`;

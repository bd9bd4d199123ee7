// Preloaded with `node --import`: appends the URL of every ES module the process and its worker
// threads load to the file named by MUSICFLOW_MODULE_LOG, one per line.
import { register } from 'node:module';

const hooks = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.MUSICFLOW_MODULE_LOG, url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

// Run by `npm run build` after tsc: stamps the compiled config package with the git commit it was built from, so an
// installed copy without .git (the Docker image) still knows it. MUSICFLOW_COMMIT (a Docker build argument) wins.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gitCommit } from './dist/build-info.js';

const commit = process.env.MUSICFLOW_COMMIT || gitCommit(fileURLToPath(new URL('../..', import.meta.url)));
writeFileSync(new URL('./dist/build-info.json', import.meta.url), `${JSON.stringify({ commit })}\n`);

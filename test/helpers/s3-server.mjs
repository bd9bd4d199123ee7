// An S3-protocol server (s3rver, as test/helpers/s3.ts runs it in-process) as a process of its own, so
// it can run inside a network namespace on that host's address.
// Usage: node s3-server.mjs <address> <port> <directory> <bucket>...
import S3rver from 's3rver';

const [address, port, directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({ address, port: Number(port), silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
await server.run();
process.stdout.write('ready\n');
process.on('SIGTERM', () => server.close(() => process.exit(0)));

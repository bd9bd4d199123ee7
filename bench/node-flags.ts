/**
 * The node flags of the benches' worker processes: the image's (infra/Dockerfile's NODE_OPTIONS and the
 * flag its ENTRYPOINT gives node) and the npm start scripts'; test/unit/node-flags.test.ts keeps them equal.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-old-space-size=256', '--max-semi-space-size=8', '--initial-old-space-size=64'];

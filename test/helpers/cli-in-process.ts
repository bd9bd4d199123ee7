import { main } from '@musicflow/cli';

/**
 * Runs `musicflow <args>` in this process with `env` set (the CLI reads its
 * config from the environment) and returns what it printed to stdout.
 */
export async function runCliInProcess(args: string[], env: Record<string, string>): Promise<string> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (line: string) => printed.push(line);
  try {
    Object.assign(process.env, env);
    await main(args);
  } finally {
    console.log = log;
  }
  return printed.join('\n');
}

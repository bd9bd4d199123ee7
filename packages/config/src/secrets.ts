import fs from 'node:fs';

/**
 * The content of a secret file (a Docker or Kubernetes secret), without the
 * line ending an editor or `echo` leaves at its end, as the official database
 * images read their `*_FILE` variables. Read again on every call, so a rotated
 * secret is picked up by the next connection. A missing or empty file throws,
 * naming the variable and the file.
 */
export function readSecretFile(file: string, variable: string): string {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): mount the secret there or fix the path`,
    );
  }
  const secret = content.replace(/\r?\n$/, '');
  if (!secret) throw new Error(`${variable}: ${file} is empty: it must hold the secret`);
  return secret;
}

/** Appends path segments to a folder URL. */
export function joinUrl(folderUrl: string, ...parts: string[]): string {
  const base = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
  return base + parts.map((p) => p.replace(/^\/+/, '')).join('/');
}

export function basename(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** `relativeKey('s3://b/in/', 's3://b/in/x/a.csv')` → `x/a.csv`. */
export function relativeKey(folderUrl: string, url: string): string {
  const base = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
  if (!url.startsWith(base)) throw new Error(`${url} is not under ${base}`);
  return url.slice(base.length);
}

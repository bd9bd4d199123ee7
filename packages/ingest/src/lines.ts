/** Calls `f` with each line's range of `\n`-separated bytes (none for an empty buffer). */
export function forEachLine(bytes: Buffer, f: (bytes: Buffer, start: number, end: number) => void): void {
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    f(bytes, start, end);
    start = end + 1;
  }
}

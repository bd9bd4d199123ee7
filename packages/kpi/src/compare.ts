/**
 * Orders strings by Unicode code point (SPEC 4.2 tie-break). JavaScript's `<`
 * compares UTF-16 code units, which puts astral characters (emoji, U+10000+)
 * before U+E000-U+FFFF; this does not.
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return i < a.length ? 1 : j < b.length ? -1 : 0;
}

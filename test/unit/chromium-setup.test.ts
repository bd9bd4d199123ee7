import { describe, expect, it } from 'vitest';
import { findChromium } from '../setup/chromium.ts';

describe('the test setup finding Chromium', () => {
  it('uses CHROMIUM_PATH when it names an executable', () => {
    expect(findChromium({ CHROMIUM_PATH: process.execPath })).toBe(process.execPath);
  });

  it('stops with a message naming CHROMIUM_PATH when it points at nothing, installing nothing', () => {
    const lines: string[] = [];
    expect(() => findChromium({ CHROMIUM_PATH: '/nonexistent/chromium' }, (line) => lines.push(line))).toThrow(
      /CHROMIUM_PATH=\/nonexistent\/chromium: no executable there\. Point CHROMIUM_PATH at a Chromium or Chrome binary/,
    );
    expect(lines).toEqual([]);
  });
});

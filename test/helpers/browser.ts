/**
 * Headless Chromium for the browser tests (the one the global setup found or
 * installed), and what a page's layout is checked for.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

/** Chromium offline and quiet: nothing but the pages a test opens goes on the network. */
export const launchChromium = (executablePath: string): Promise<Browser> =>
  chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

/**
 * What is cut off in the page's visible tables at its current width: a
 * table's section that scrolls sideways (a column out of sight), a cell whose
 * content is wider than the cell, and a name cut with an ellipsis whose whole
 * text is not its title. Empty when every table fits.
 */
export const cutOffTables = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    // Runs in the page: its DOM, typed here without the DOM library.
    interface El {
      id: string;
      tagName: string;
      title: string;
      textContent: string | null;
      scrollWidth: number;
      clientWidth: number;
      offsetParent: unknown;
      closest(selector: string): El | null;
      querySelectorAll(selector: string): Iterable<El>;
    }
    const doc = (globalThis as unknown as { document: El }).document;
    const problems: string[] = [];
    for (const table of doc.querySelectorAll('table')) {
      if (table.offsetParent === null) continue; // not in the view shown
      const section = table.closest('section')!;
      if (section.scrollWidth > section.clientWidth + 1) problems.push(`#${table.id}: ${section.scrollWidth} px wide in a ${section.clientWidth} px section`);
      for (const cell of table.querySelectorAll('th, td')) {
        if (cell.scrollWidth > cell.clientWidth + 1)
          problems.push(`#${table.id} ${cell.tagName} "${cell.textContent}": ${cell.scrollWidth} px in ${cell.clientWidth}`);
      }
      for (const cut of table.querySelectorAll('.cut span')) {
        if (cut.scrollWidth > cut.clientWidth && cut.title !== cut.textContent) problems.push(`#${table.id} "${cut.textContent}" is cut without its title`);
      }
    }
    return problems;
  });

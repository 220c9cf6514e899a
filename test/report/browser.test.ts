/**
 * Opens report pages in headless Chromium (Debian's `chromium`, driven by playwright-core) and
 * checks what a person would see: every plot drawn with visible marks, notes where data is
 * missing, a clean console and no request beyond the page itself. Skips, saying why, when
 * Chromium is not installed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { renderReport, PLOT_IDS } from '../../src/report/render.js';
import type { ReportData } from '../../src/report/types.js';
import { emptyData, fullData } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`;
/** Where the lead can look at the full page once. */
const SHOWCASE = '/tmp/vrdata-report-screenshot.png';

let browser: Browser | undefined;
let dir = '';

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'vrdata-report-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Seen {
  console: string[];
  requests: string[];
  plots: { id: string; missing: boolean; marks: number; visibleMarks: number; svgWidth: number; svgHeight: number; note: string }[];
  screenshot: string;
}

/** Writes the page, opens it from a file URL, and reports what rendered. */
async function open(data: ReportData, name: string): Promise<Seen> {
  const file = join(dir, `${name}.html`);
  await writeFile(file, renderReport(data));
  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  const seen: Seen = { console: [], requests: [], plots: [], screenshot: join(dir, `${name}.png`) };
  page.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.console.push(`pageerror: ${e.message}`));
  page.on('request', (r) => seen.requests.push(r.url()));
  try {
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    seen.plots = await page.$$eval('figure.plot', (figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        const marks = [...f.querySelectorAll('svg .mark')];
        const visible = marks.filter((m) => {
          const r = m.getBoundingClientRect();
          // the tsconfig has no DOM lib; in the page globalThis is the window
          const style = (globalThis as unknown as { getComputedStyle(e: unknown): { visibility: string; display: string; fill: string } }).getComputedStyle(m);
          return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none' && style.fill !== 'none';
        });
        return {
          id: f.getAttribute('data-plot') ?? '',
          missing: f.classList.contains('missing'),
          marks: marks.length,
          visibleMarks: visible.length,
          svgWidth: box?.width ?? 0,
          svgHeight: box?.height ?? 0,
          note: f.querySelector('.note')?.textContent ?? '',
        };
      }),
    );
    await page.screenshot({ path: seen.screenshot, fullPage: true });
  } finally {
    await page.close();
  }
  return seen;
}

test('the full report renders every plot in Chromium with a clean console', { skip }, async () => {
  const seen = await open(fullData(), 'full');
  assert.deepEqual(seen.console, [], 'console must be clean');
  assert.deepEqual(seen.requests.filter((u) => !u.startsWith('file://')), [], 'no request leaves the page');
  assert.equal(seen.requests.length, 1, 'only the page itself is loaded');
  assert.deepEqual(seen.plots.map((p) => p.id), [...PLOT_IDS]);
  for (const p of seen.plots) {
    assert.equal(p.missing, false, `${p.id} is a note: ${p.note}`);
    assert.ok(p.svgWidth > 300 && p.svgHeight > 100, `${p.id} svg is ${p.svgWidth}x${p.svgHeight}`);
    assert.ok(p.visibleMarks > 0 && p.visibleMarks === p.marks, `${p.id}: ${p.visibleMarks} of ${p.marks} marks visible`);
  }
  assert.ok(existsSync(seen.screenshot));
  await copyFile(seen.screenshot, SHOWCASE);
});

test('a run with no tables shows a note for every plot, and a clean console', { skip }, async () => {
  const seen = await open(emptyData(), 'empty');
  assert.deepEqual(seen.console, []);
  assert.equal(seen.plots.length, PLOT_IDS.length);
  for (const p of seen.plots) {
    assert.equal(p.missing, true, p.id);
    assert.equal(p.marks, 0);
    assert.ok(p.note.length > 10, `${p.id} explains what is missing`);
  }
  assert.ok(existsSync(seen.screenshot));
});

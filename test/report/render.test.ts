import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport, PLOT_IDS } from '../../src/report/render.js';
import { binSeries } from '../../src/report/svg.js';
import { emptyData, fullData } from './fixtures.js';

/** The figures of a page: id -> its HTML. */
function figures(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<figure class="plot[^"]*" data-plot="([^"]+)">([\s\S]*?)<\/figure>/g)) out.set(m[1] as string, m[0]);
  return out;
}

test('a full run draws every plot, with marks, and nothing reaches the network', () => {
  const html = renderReport(fullData());
  const figs = figures(html);
  assert.deepEqual([...figs.keys()], [...PLOT_IDS]);
  for (const [id, fig] of figs) {
    assert.ok(!fig.includes('class="plot missing"'), `${id} should be drawn`);
    assert.ok((fig.match(/class="mark"/g) ?? []).length > 0, `${id} has no marks`);
  }
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|\bsrc=|url\(/i, 'self-contained: no script, no external resource');
  assert.doesNotMatch(html, /https?:\/\//, 'no network address anywhere');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
});

test('text from the run is escaped', () => {
  const html = renderReport(fullData());
  assert.ok(html.includes('demo &lt;&amp;&gt; &quot;quoted&quot;'));
  assert.ok(!html.includes('demo <&>'));
});

test('the eval plot and table show before and after in order, with per-source rows and pass@k', () => {
  const html = renderReport(fullData());
  const evalFig = figures(html).get('eval') as string;
  assert.ok(evalFig.indexOf('eval_before') < evalFig.indexOf('eval_after'));
  // before: per question a=0.5, b=0, ch=0.25, dh=0.25 -> 25.0%; after: 0.75, 0.25, 0.5, 1 -> 62.5%
  assert.match(evalFig, /eval_before: 25\.0%/);
  assert.match(evalFig, /eval_after: 62\.5%/);
  const table = /<table class="eval">[\s\S]*?<\/table>/.exec(html)?.[0] ?? '';
  assert.match(table, /<th>pass@2<\/th><th>pass@4<\/th>/);
  assert.match(table, /<td>eval_after<\/td><td>arith-4step<\/td><td>2<\/td><td>8<\/td><td>75\.0% ± /);
  // pass@4 of eval_before: a=1, b=0, ch=1, dh=1 -> 75%
  assert.match(table, /<td>eval_before<\/td><td>all<\/td><td>4<\/td><td>16<\/td><td>25\.0% ± [\d.]+%<\/td><td>[\d.]+%<\/td><td>75\.0%<\/td>/);
});

test('missing tables give a note in place of each plot, not an error', () => {
  const html = renderReport(emptyData());
  const figs = figures(html);
  assert.deepEqual([...figs.keys()], [...PLOT_IDS]);
  for (const [id, fig] of figs) {
    assert.ok(fig.includes('class="plot missing"'), `${id} should be a note`);
    assert.match(fig, /<p class="note">[^<]+<\/p>/);
    assert.ok(!fig.includes('<svg'));
  }
  assert.match(figs.get('rho') as string, /weigh stage/);
  assert.match(figs.get('eval') as string, /eval stage/);
});

test('histogram bins: distinct values as categories, else equal bins that hold every value once', () => {
  const cat = binSeries([{ label: 'acc', values: [0, 0.25, 0.25, 1, 1, 1] }]);
  assert.equal(cat.categorical, true);
  assert.deepEqual(cat.edges, [0, 0.25, 1]);
  assert.deepEqual(cat.counts, [[1, 2, 3]]);
  const values = Array.from({ length: 101 }, (_, i) => i / 100);
  const eq = binSeries([{ label: 'rho', values }, { label: 'two', values: [0, 1] }], { domain: [0, 1], bins: 10 });
  assert.equal(eq.categorical, false);
  assert.equal(eq.counts[0]?.reduce((a, b) => a + b, 0), 101);
  assert.equal(eq.counts[0]?.[9], 11, 'the maximum falls in the last bin');
  assert.deepEqual(eq.counts[1], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

/**
 * Small SVG charts drawn as strings (no script, no network): histograms, vertical bars with
 * error bars, horizontal bars. Every data mark has class "mark" so a test can count what was
 * drawn; every mark carries a <title> tooltip with its exact value.
 */

export const PALETTE = ['#3b6fb6', '#e0823d', '#4c9a5b', '#b6443b', '#7d5ba6', '#8c6d31'];

const W = 560;
const H = 250;
const M = { left: 58, right: 14, top: 14, bottom: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

/** Escapes text for HTML and SVG content and attributes. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A number for a label: integers as is, others with 3 significant digits. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a !== 0 && a < 0.001) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

/** A round axis maximum at or above `v` (1, 2, 2.5, 5 x 10^n). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(inner: string, opts: { xLabel: string; yLabel: string; yMax: number; ariaLabel: string }): string {
  const ticks = [0, 0.5, 1]
    .map((f) => {
      const y = M.top + PH - f * PH;
      return `<line x1="${M.left - 4}" x2="${M.left}" y1="${y}" y2="${y}" class="axis"/><text x="${M.left - 7}" y="${y + 4}" text-anchor="end" class="tick">${esc(fmt(f * opts.yMax))}</text>`;
    })
    .join('');
  return (
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(opts.ariaLabel)}">` +
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PH}" class="axis"/>` +
    `<line x1="${M.left}" x2="${M.left + PW}" y1="${M.top + PH}" y2="${M.top + PH}" class="axis"/>` +
    ticks +
    inner +
    `<text x="${M.left + PW / 2}" y="${H - 6}" text-anchor="middle" class="label">${esc(opts.xLabel)}</text>` +
    `<text transform="translate(14 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(opts.yLabel)}</text>` +
    `</svg>`
  );
}

export interface Series {
  label: string;
  values: readonly number[];
}

export interface Bins {
  /** Left edges (and, for categories, the exact values). */
  edges: number[];
  width: number;
  /** counts[series][bin] */
  counts: number[][];
  /** true when each bin is one distinct value (few distinct values, e.g. acc with N rollouts). */
  categorical: boolean;
}

/** Bins all series over their joint range: one bin per distinct value when there are at most `maxCategories`, else `bins` equal bins. */
export function binSeries(series: readonly Series[], options: { bins?: number; domain?: [number, number]; maxCategories?: number } = {}): Bins {
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  const distinct = [...new Set(all)].sort((a, b) => a - b);
  if (distinct.length > 0 && distinct.length <= (options.maxCategories ?? 12) && !options.domain) {
    const index = new Map(distinct.map((v, i) => [v, i]));
    const counts = series.map((s) => {
      const c = new Array<number>(distinct.length).fill(0);
      for (const v of s.values) if (Number.isFinite(v)) (c[index.get(v) as number] as number)++;
      return c;
    });
    return { edges: distinct, width: 0, counts, categorical: true };
  }
  let lo = options.domain?.[0] ?? (all.length ? Math.min(...all) : 0);
  let hi = options.domain?.[1] ?? (all.length ? Math.max(...all) : 1);
  if (hi <= lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const nb = options.bins ?? 20;
  const width = (hi - lo) / nb;
  const counts = series.map((s) => {
    const c = new Array<number>(nb).fill(0);
    for (const v of s.values) {
      if (!Number.isFinite(v) || v < lo || v > hi) continue;
      (c[Math.min(nb - 1, Math.floor((v - lo) / width))] as number)++;
    }
    return c;
  });
  return { edges: Array.from({ length: nb }, (_, i) => lo + i * width), width, counts, categorical: false };
}

function legend(labels: readonly string[]): string {
  if (labels.length < 2) return '';
  return labels
    .map((l, i) => {
      const x = M.left + 10 + i * 170;
      return `<rect x="${x}" y="${M.top + 2}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 14}" y="${M.top + 11}" class="tick">${esc(l)}</text>`;
    })
    .join('');
}

/** A histogram of one or more series (bars side by side within a bin). */
export function histogram(series: readonly Series[], options: { xLabel: string; yLabel?: string; bins?: number; domain?: [number, number]; maxCategories?: number }): string {
  const b = binSeries(series, options);
  const nb = b.edges.length;
  const yMax = niceMax(Math.max(1, ...b.counts.flat()));
  const slot = PW / nb;
  const barW = (slot * 0.86) / series.length;
  let marks = '';
  for (let i = 0; i < nb; i++) {
    const lo = b.edges[i] as number;
    const range = b.categorical ? fmt(lo) : `[${fmt(lo)}, ${fmt(lo + b.width)})`;
    series.forEach((s, j) => {
      const c = b.counts[j]?.[i] ?? 0;
      if (c === 0) return;
      const h = (c / yMax) * PH;
      const x = M.left + i * slot + slot * 0.07 + j * barW;
      marks += `<rect class="mark" x="${x.toFixed(1)}" y="${(M.top + PH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[j % PALETTE.length]}"><title>${esc(`${s.label}: ${c} in ${range}`)}</title></rect>`;
    });
  }
  let xTicks = '';
  const tickAt = (x: number, text: string) =>
    `<text x="${x.toFixed(1)}" y="${M.top + PH + 16}" text-anchor="middle" class="tick">${esc(text)}</text>`;
  if (b.categorical) {
    const step = Math.ceil(nb / 12);
    for (let i = 0; i < nb; i += step) xTicks += tickAt(M.left + (i + 0.5) * slot, fmt(b.edges[i] as number));
  } else {
    const lo = b.edges[0] as number;
    for (const f of [0, 0.25, 0.5, 0.75, 1]) xTicks += tickAt(M.left + f * PW, fmt(lo + f * nb * b.width));
  }
  const total = series.map((s) => `${s.label}: ${s.values.length}`).join(', ');
  return frame(marks + xTicks + legend(series.map((s) => s.label)), { xLabel: options.xLabel, yLabel: options.yLabel ?? 'count', yMax, ariaLabel: `histogram (${total})` });
}

export interface Bar {
  label: string;
  value: number;
  /** Half-width of an error bar, when there is one. */
  error?: number;
  /** Tooltip; defaults to label: value. */
  title?: string;
  color?: string;
}

/** Vertical bars with optional error bars; `yMax` fixes the axis (e.g. 1 for accuracies). */
export function bars(items: readonly Bar[], options: { xLabel: string; yLabel: string; yMax?: number }): string {
  const yMax = options.yMax ?? niceMax(Math.max(0, ...items.map((b) => b.value + (b.error ?? 0))));
  const slot = PW / Math.max(1, items.length);
  const bw = Math.min(70, slot * 0.7);
  let marks = '';
  items.forEach((b, i) => {
    const h = (Math.max(0, b.value) / yMax) * PH;
    const cx = M.left + (i + 0.5) * slot;
    marks += `<rect class="mark" x="${(cx - bw / 2).toFixed(1)}" y="${(M.top + PH - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(h, 0.5).toFixed(1)}" fill="${b.color ?? PALETTE[i % PALETTE.length]}"><title>${esc(b.title ?? `${b.label}: ${fmt(b.value)}`)}</title></rect>`;
    if (b.error !== undefined && b.error > 0) {
      const y1 = M.top + PH - (Math.min(yMax, b.value + b.error) / yMax) * PH;
      const y2 = M.top + PH - (Math.max(0, b.value - b.error) / yMax) * PH;
      marks += `<path class="err" d="M${cx} ${y1.toFixed(1)}V${y2.toFixed(1)}M${cx - 6} ${y1.toFixed(1)}h12M${cx - 6} ${y2.toFixed(1)}h12"/>`;
    }
    const top = M.top + PH - (Math.min(yMax, Math.max(0, b.value) + (b.error ?? 0)) / yMax) * PH; // above the error bar
    marks += `<text x="${cx.toFixed(1)}" y="${Math.max(10, top - 4).toFixed(1)}" text-anchor="middle" class="tick">${esc(fmt(b.value))}</text>`;
    marks += `<text x="${cx.toFixed(1)}" y="${M.top + PH + 16}" text-anchor="middle" class="tick">${esc(b.label.length > 18 ? `${b.label.slice(0, 17)}…` : b.label)}</text>`;
  });
  return frame(marks, { xLabel: options.xLabel, yLabel: options.yLabel, yMax, ariaLabel: `bar chart of ${items.length} bars` });
}

/** Horizontal bars, one per row (e.g. seconds per table); the height grows with the rows. */
export function hbars(items: readonly Bar[], options: { xLabel: string }): string {
  const rowH = 22;
  const left = 150;
  const width = W - left - 60;
  const height = items.length * rowH + 40;
  const xMax = niceMax(Math.max(0, ...items.map((b) => b.value)));
  let marks = '';
  items.forEach((b, i) => {
    const y = 8 + i * rowH;
    const w = (Math.max(0, b.value) / xMax) * width;
    marks += `<text x="${left - 6}" y="${y + 14}" text-anchor="end" class="tick">${esc(b.label)}</text>`;
    marks += `<rect class="mark" x="${left}" y="${y + 3}" width="${Math.max(w, 1).toFixed(1)}" height="${rowH - 6}" fill="${b.color ?? PALETTE[0]}"><title>${esc(b.title ?? `${b.label}: ${fmt(b.value)}`)}</title></rect>`;
    marks += `<text x="${(left + Math.max(w, 1) + 4).toFixed(1)}" y="${y + 14}" class="tick">${esc(fmt(b.value))}</text>`;
  });
  const axisY = 8 + items.length * rowH;
  return (
    `<svg viewBox="0 0 ${W} ${height}" role="img" aria-label="horizontal bar chart of ${items.length} bars">` +
    `<line x1="${left}" x2="${left + width}" y1="${axisY}" y2="${axisY}" class="axis"/>` +
    `<text x="${left}" y="${axisY + 14}" class="tick">0</text><text x="${left + width}" y="${axisY + 14}" text-anchor="end" class="tick">${esc(fmt(xMax))}</text>` +
    marks +
    `<text x="${left + width / 2}" y="${height - 4}" text-anchor="middle" class="label">${esc(options.xLabel)}</text></svg>`
  );
}

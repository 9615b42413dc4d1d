/** A dependency-free SVG of box plots (one panel per group of time-to-first-token samples). */
import { percentile } from "./stats.js";

export interface ChartRow {
  label: string;
  /** Samples in ms (any order). */
  samples: readonly number[];
  /** Highlight this row (zoe-pipeline). */
  highlight?: boolean;
}

export interface ChartPanel {
  title: string;
  subtitle?: string;
  rows: ChartRow[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A "nice" axis maximum and tick step covering `max`. */
function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

const tickFmt = (t: number, step: number) =>
  t === 0 ? "0" : t.toFixed(Math.max(0, -Math.floor(Math.log10(step)) + (step / 10 ** Math.floor(Math.log10(step)) === 2.5 ? 1 : 0)));
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

/**
 * Horizontal box plots: box p25–p75, thick line at the median, whiskers p5–p95, dot at p99
 * (an arrow with its value when p99 is off the axis). The median is printed at the right.
 */
export function boxPlotSvg(title: string, panels: ChartPanel[], note: string): string {
  const width = 900;
  const left = 150;
  const right = 110;
  const plotW = width - left - right;
  const rowH = 34;
  const out: string[] = [];
  let y = 0;
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${width / 2}" y="48" text-anchor="middle" font-size="12" fill="#555">${esc(note)}</text>`);
  y = 70;
  for (const panel of panels) {
    const stats = panel.rows.map((r) => {
      const s = [...r.samples].sort((a, b) => a - b);
      return {
        row: r,
        p5: percentile(s, 5),
        p25: percentile(s, 25),
        p50: percentile(s, 50),
        p75: percentile(s, 75),
        p95: percentile(s, 95),
        p99: percentile(s, 99),
      };
    });
    // The axis covers every p95, unless a heavy tail would squash the boxes: then it stops at
    // 4 × the largest p75 and the values off the axis are printed at its right edge.
    const { top, step } = niceAxis(Math.min(Math.max(...stats.map((s) => s.p95)), 4 * Math.max(...stats.map((s) => s.p75))) * 1.1);
    const x = (v: number) => left + (Math.min(v, top) / top) * plotW;
    out.push(`<text x="${left}" y="${y + 16}" font-size="14" font-weight="bold">${esc(panel.title)}</text>`);
    if (panel.subtitle) out.push(`<text x="${left}" y="${y + 33}" font-size="11" fill="#555">${esc(panel.subtitle)}</text>`);
    y += panel.subtitle ? 46 : 30;
    const plotTop = y;
    const plotBottom = y + stats.length * rowH;
    // grid and ticks
    for (let t = 0; t <= top + step / 2; t += step) {
      const gx = x(t);
      out.push(`<line x1="${gx}" y1="${plotTop}" x2="${gx}" y2="${plotBottom}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${gx}" y="${plotBottom + 15}" text-anchor="middle" font-size="11" fill="#333">${tickFmt(t, step)}</text>`);
    }
    out.push(`<line x1="${left}" y1="${plotBottom}" x2="${left + plotW}" y2="${plotBottom}" stroke="#333"/>`);
    out.push(`<text x="${left + plotW / 2}" y="${plotBottom + 32}" text-anchor="middle" font-size="12">time to first token (ms)</text>`);
    out.push(`<text x="${left + plotW + 10}" y="${plotTop - 6}" font-size="11" fill="#555">median</text>`);
    stats.forEach((s, i) => {
      const cy = plotTop + i * rowH + rowH / 2;
      const colour = s.row.highlight ? "#d9480f" : "#1c7ed6";
      const fill = s.row.highlight ? "#ffe8cc" : "#d0ebff";
      out.push(
        `<text x="${left - 10}" y="${cy + 4}" text-anchor="end" font-size="13"${s.row.highlight ? ' font-weight="bold"' : ""}>${esc(s.row.label)}</text>`,
      );
      out.push(`<line x1="${x(s.p5)}" y1="${cy}" x2="${x(s.p95)}" y2="${cy}" stroke="${colour}" stroke-width="1.5"/>`);
      out.push(`<line x1="${x(s.p5)}" y1="${cy - 6}" x2="${x(s.p5)}" y2="${cy + 6}" stroke="${colour}" stroke-width="1.5"/>`);
      if (s.p95 <= top)
        out.push(`<line x1="${x(s.p95)}" y1="${cy - 6}" x2="${x(s.p95)}" y2="${cy + 6}" stroke="${colour}" stroke-width="1.5"/>`);
      out.push(
        `<rect x="${x(s.p25)}" y="${cy - 10}" width="${Math.max(1, x(s.p75) - x(s.p25))}" height="20" fill="${fill}" stroke="${colour}" stroke-width="1.5"/>`,
      );
      out.push(`<line x1="${x(s.p50)}" y1="${cy - 10}" x2="${x(s.p50)}" y2="${cy + 10}" stroke="${colour}" stroke-width="3"/>`);
      if (s.p99 <= top) out.push(`<circle cx="${x(s.p99)}" cy="${cy}" r="3" fill="${colour}"/>`);
      else
        out.push(
          `<text x="${left + plotW - 2}" y="${cy - 8}" text-anchor="end" font-size="10" fill="${colour}">${s.p95 > top ? `p95 ${fmt(s.p95)} · ` : ""}p99 ${fmt(s.p99)} →</text>`,
        );
      out.push(`<text x="${left + plotW + 10}" y="${cy + 4}" font-size="12">${fmt(s.p50)} ms</text>`);
    });
    y = plotBottom + 56;
  }
  const height = y;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...out,
    `</svg>`,
    "",
  ].join("\n");
}

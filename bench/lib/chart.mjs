// chart.mjs: a hand-written SVG bar chart of the medians, one small panel per scenario (their
// scales differ by 100x, so one shared axis would flatten most bars), with ratio labels.
import { unitOf } from './scenarios.mjs';

const COLORS = { ours: '#2563eb', 'ours-ws': '#60a5fa', ws: '#9ca3af', c: '#ea580c' };
const PANEL_W = 240;
const PANEL_H = 230;
const COLUMNS = 4;
const TOP = 70;

const escapeXml = (text) => String(text).replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[ch]);

function shortNumber(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${Math.round(value / 1e3)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return String(Math.round(value));
}

function panel(scenario, x, y) {
  const { unit, higherIsBetter } = unitOf(scenario);
  const bars = Object.entries(scenario.servers)
    .filter(([, entry]) => entry.median && entry.median.rate !== null)
    .map(([name, entry]) => ({ name, value: scenario.kind === 'idle' ? entry.median.rate / 1024 : entry.median.rate }));
  const parts = [`<g transform="translate(${x},${y})">`,
    `<rect width="${PANEL_W - 10}" height="${PANEL_H - 10}" fill="#f9fafb" stroke="#e5e7eb"/>`,
    `<text x="10" y="20" font-weight="bold">${escapeXml(scenario.name)}</text>`,
    `<text x="10" y="36" font-size="11" fill="#4b5563">${escapeXml(scenario.kind === 'idle' ? 'KB per idle conn' : unit)}${higherIsBetter ? '' : ' (lower is better)'}</text>`];
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const baseY = 175;
  const plotH = 115;
  const barW = 46;
  const gap = (PANEL_W - 10 - bars.length * barW) / (bars.length + 1);
  bars.forEach((bar, i) => {
    const h = Math.max(1, (bar.value / max) * plotH);
    const bx = gap + i * (barW + gap);
    parts.push(`<rect x="${bx.toFixed(1)}" y="${(baseY - h).toFixed(1)}" width="${barW}" height="${h.toFixed(1)}" fill="${COLORS[bar.name] ?? '#6b7280'}"/>`,
      `<text x="${(bx + barW / 2).toFixed(1)}" y="${(baseY - h - 4).toFixed(1)}" font-size="11" text-anchor="middle">${scenario.kind === 'idle' ? bar.value.toFixed(1) : shortNumber(bar.value)}</text>`,
      `<text x="${(bx + barW / 2).toFixed(1)}" y="${baseY + 14}" font-size="11" text-anchor="middle">${escapeXml(bar.name)}</text>`);
  });
  if (bars.length === 0) parts.push('<text x="10" y="110" font-size="11" fill="#6b7280">no result</text>');
  const r = scenario.ratios.ours ?? scenario.ratios['fanout-publish'];
  if (scenario.deflate && scenario.servers.ours?.median && !scenario.servers.ours.median.deflate_negotiated) {
    parts.push(`<text x="10" y="${PANEL_H - 20}" font-size="11" fill="#b91c1c">ours: deflate not negotiated</text>`);
  } else if (r && (r.vs_ws || r.vs_c)) {
    const label = [r.vs_ws ? `${r.vs_ws.toFixed(2)}× ws` : null, r.vs_c ? `${r.vs_c.toFixed(2)}× c` : null].filter(Boolean).join(' · ');
    parts.push(`<text x="10" y="${PANEL_H - 20}" font-size="11" fill="${COLORS.ours}">ours: ${escapeXml(label)}</text>`);
  } else if (scenario.ratios.c?.vs_ws) {
    parts.push(`<text x="10" y="${PANEL_H - 20}" font-size="11" fill="${COLORS.c}">c: ${scenario.ratios.c.vs_ws.toFixed(2)}× ws</text>`);
  }
  parts.push('</g>');
  return parts.join('\n');
}

/** The whole SVG document for `results` (the latest.json object). */
export function renderChart(results) {
  const scenarios = results.scenarios;
  const rows = Math.ceil(scenarios.length / COLUMNS);
  const width = COLUMNS * PANEL_W + 10;
  const height = TOP + rows * PANEL_H + 10;
  const m = results.machine;
  const subtitle = `${results.date.slice(0, 10)} · ${m.cpu}, ${m.cores} cores · Node ${m.node} · medians of ${results.options.rounds} round(s), ${results.options.duration}s each`;
  const legend = Object.entries(COLORS).map(([name, color], i) =>
    `<rect x="${width - 250 + i * 80}" y="14" width="12" height="12" fill="${color}"/><text x="${width - 234 + i * 80}" y="25" font-size="12">${name}</text>`);
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    '<text x="10" y="26" font-size="17" font-weight="bold">WebSocket echo servers side by side (npm run bench)</text>',
    `<text x="10" y="48" font-size="12" fill="#4b5563">${escapeXml(subtitle)}</text>`,
    ...legend,
    ...scenarios.map((s, i) => panel(s, 10 + (i % COLUMNS) * PANEL_W, TOP + Math.floor(i / COLUMNS) * PANEL_H)),
    '</svg>', ''].join('\n');
}

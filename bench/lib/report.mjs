// report.mjs: medians over rounds, ratios to ws and to C, the stdout table and the JSON document.
import { cpus, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { unitOf } from './scenarios.mjs';

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of every numeric metric across the successful runs. */
export function summarize(runs) {
  const ok = runs.filter((run) => !run.error);
  if (ok.length === 0) return null;
  const keys = new Set(ok.flatMap((run) => Object.keys(run)));
  const out = {};
  for (const key of keys) out[key] = median(ok.map((run) => run[key]));
  out.runs = ok.length;
  return out;
}

/** Plain a / b, as the issue states its targets (for idle memory, lower is better). */
export function ratio(a, b) {
  if (!a || !b) return null;
  return a / b;
}

export function machineInfo() {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
  } catch {
    // not Linux: os.cpus() is enough
  }
  return { cpu, cores: cpus().length, kernel: release(), node: process.version };
}

export function packageVersion(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8')).version;
  } catch {
    return null;
  }
}

/** Ratios of every server's median rate to ws's and to C's. */
export function ratiosFor(medians) {
  const out = {};
  // The fan-out scenarios have their own ws server (a wss.clients loop).
  const ws = medians.ws ?? medians['fanout-ws'];
  for (const [name, m] of Object.entries(medians)) {
    if (!m) continue;
    out[name] = {
      vs_ws: name === 'ws' || name === 'fanout-ws' ? null : ratio(m.rate, ws?.rate),
      vs_c: name === 'c' ? null : ratio(m.rate, medians.c?.rate),
      // the wslay/ws facade against the native API it wraps
      vs_ours: name === 'ours-ws' ? ratio(m.rate, medians.ours?.rate) : null,
    };
  }
  return out;
}

function formatRate(scenario, value) {
  if (value === null || value === undefined) return '-';
  if (scenario.kind === 'idle') return `${(value / 1024).toFixed(1)} KB`;
  return Math.round(value).toLocaleString('en-US');
}

const fixed = (value, digits) => (value === null || value === undefined ? '-' : value.toFixed(digits));
const times = (value) => (value === null || value === undefined ? '-' : `${value.toFixed(2)}x`);

/** The stdout table: one row per scenario and server. */
export function formatTable(results) {
  const header = ['scenario', 'server', 'rate', 'unit', 'srv µs/op', 'srv CPU%', 'cli CPU%', 'vs ws', 'vs c', 'vs ours', 'errors'];
  const rows = [header];
  for (const s of results.scenarios) {
    const { unit } = unitOf(s);
    for (const [name, entry] of Object.entries(s.servers)) {
      const m = entry.median;
      if (!m) {
        rows.push([s.name, name, entry.skipped ? `skipped: ${entry.skipped}` : 'failed', '', '', '', '', '', '', '', '']);
        continue;
      }
      const r = s.ratios[name] ?? {};
      const unitShown = s.kind === 'idle' ? 'per conn' : unit;
      rows.push([s.name, name, formatRate(s, m.rate), unitShown, fixed(m.server_us_per_op, 2), fixed(m.server_cpu_pct, 0),
        fixed(m.client_cpu_pct, 0), times(r.vs_ws), times(r.vs_c), times(r.vs_ours), String(m.errors ?? 0)]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.filter((row) => row.length > 3 && row[3] !== '' || row === header)
    .map((row) => String(row[i]).length)));
  return rows
    .map((row) => (row[3] === '' && row !== header
      ? `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2]}`
      : row.map((cell, i) => (i < 2 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  ')))
    .join('\n');
}

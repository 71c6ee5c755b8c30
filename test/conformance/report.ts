// One line per case as it finishes, then per-section counts and the closing
// line `conformance: N passed, M failed` (NON-STRICT counts as passed).
import type { Result, Verdict } from './case-types.js';

export type Log = (line: string) => void;

export const defaultLog: Log = (line) => {
  process.stdout.write(line + '\n');
};

export function caseLine(r: Result): string {
  return `[${r.side}] ${r.id.padEnd(9)} ${r.verdict.padEnd(13)} ${String(r.ms).padStart(5)} ms  ${r.description}${r.reason ? ` — ${r.reason}` : ''}`;
}

export function summaryLines(side: string, results: Result[], totalMs: number): string[] {
  const count = (rs: Result[], v: Verdict) => rs.filter((r) => r.verdict === v).length;
  const lines: string[] = [];
  const sections = [...new Set(results.map((r) => r.section))];
  for (const s of sections) {
    const rs = results.filter((r) => r.section === s);
    lines.push(`${side} section ${s}: ${count(rs, 'OK')} OK, ${count(rs, 'NON-STRICT')} NON-STRICT, ` +
      `${count(rs, 'FAILED')} FAILED, ${count(rs, 'UNIMPLEMENTED')} UNIMPLEMENTED`);
  }
  const nonStrict = results.filter((r) => r.verdict === 'NON-STRICT');
  const unimplemented = count(results, 'UNIMPLEMENTED');
  lines.push(`${side} non-strict: ${nonStrict.length}${nonStrict.length ? ` (${nonStrict.map((r) => r.id).join(', ')})` : ''}; ` +
    `unimplemented: ${unimplemented}; ${(totalMs / 1000).toFixed(1)} s`);
  const passed = count(results, 'OK') + nonStrict.length;
  lines.push(`conformance: ${passed} passed, ${count(results, 'FAILED')} failed${unimplemented ? `, ${unimplemented} skipped` : ''}`);
  return lines;
}

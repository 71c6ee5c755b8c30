// processes.mjs: child processes for the bench, each with a bounded wait, all killed on exit,
// plus the /proc readings (RSS, CPU) taken from them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

// Exit paths: normal exit, Ctrl-C, kill, crash. None may leave a server or client running.
process.on('exit', killAll);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    killAll();
    process.exit(code);
  });
}
process.on('uncaughtException', (error) => {
  killAll();
  console.error(error);
  process.exit(1);
});

/** Spawn a tracked child; stdout is kept as text lines, stderr's tail is kept for error messages. */
export function startProcess(command, args, { stdin = 'ignore', cwd, env } = {}) {
  const child = spawn(command, args, { cwd, env, stdio: [stdin, 'pipe', 'pipe'] });
  children.add(child);
  const state = { child, lines: [], stderr: '', exited: false, exitCode: null, listeners: new Set() };
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    partial += chunk;
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      state.lines.push(line);
      for (const listener of state.listeners) listener();
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    state.stderr = (state.stderr + chunk).slice(-4000);
  });
  child.on('error', (error) => {
    state.stderr += `\n${error.message}`;
  });
  child.on('exit', (code, signal) => {
    state.exited = true;
    state.exitCode = code ?? signal;
    children.delete(child);
    for (const listener of state.listeners) listener();
  });
  return state;
}

/** Resolve with the first stdout line matching `pattern`; reject on timeout or exit. */
export function waitForLine(proc, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let next = 0;
    const check = () => {
      for (; next < proc.lines.length; next++) {
        const match = proc.lines[next].match(pattern);
        if (match) return finish(null, match);
      }
      if (proc.exited) {
        finish(new Error(`${what} exited (${proc.exitCode}) before printing ${pattern}: ${proc.stderr.trim()}`));
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`${what}: no ${pattern} within ${timeoutMs} ms: ${proc.stderr.trim()}`)),
      timeoutMs,
    );
    const finish = (error, match) => {
      clearTimeout(timer);
      proc.listeners.delete(check);
      if (error) reject(error);
      else resolve(match);
    };
    proc.listeners.add(check);
    check();
  });
}

/** Wait for exit; SIGKILL after `timeoutMs`. */
export function waitForExit(proc, timeoutMs) {
  return new Promise((resolve) => {
    if (proc.exited) return resolve(proc.exitCode);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
    proc.child.once('exit', () => {
      clearTimeout(timer);
      resolve(proc.exitCode);
    });
  });
}

/** SIGTERM, then SIGKILL if it lingers. */
export async function stopProcess(proc, graceMs = 2000) {
  if (proc.exited) return;
  proc.child.kill('SIGTERM');
  await waitForExit(proc, graceMs);
}

/** Resident set size in bytes, from /proc/PID/status. */
export function readRss(pid) {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Whole-machine CPU tick counters from /proc/stat: total, busy (not idle or iowait) and steal
 * (taken by the hypervisor). guest time is already inside user, so only the first 8 fields count.
 */
export function readCpuTicks() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { total, busy: total - fields[3] - (fields[4] ?? 0), steal: fields[7] ?? 0 };
  } catch {
    return null;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

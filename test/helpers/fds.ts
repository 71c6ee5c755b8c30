// Open file descriptors of this process, from /proc (Linux): for leak and ownership checks.
import * as fs from 'node:fs';

export function openFds(): number[] {
  return fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => Number.isInteger(fd));
}

/** The count includes the descriptor readdir itself holds open, the same every time. */
export function countFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The O_NONBLOCK flag of `fd`, read from /proc/self/fdinfo (octal `flags:` line). */
export function isNonBlocking(fd: number): boolean {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s*([0-7]+)/m.exec(info);
  if (!match) throw new Error(`no flags in /proc/self/fdinfo/${fd}`);
  return (parseInt(match[1], 8) & 0o4000) !== 0;
}

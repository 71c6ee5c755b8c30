// Real peers are Debian packages. Outside CI a missing one skips its tests with a message; CI installs them all,
// so there a missing peer must fail instead of passing silently.

export interface Peer {
  what: string;
  present: boolean;
  /** How to install it. */
  install: string;
}

/** True when the tests needing `peer` should be skipped (it is missing and CI is unset). */
export function skipWithout(peer: Peer): boolean {
  if (peer.present || process.env.CI) return false;
  console.warn(`skipping: ${peer.what} is missing (${peer.install}); CI installs it`);
  return true;
}

/** Throws when `peer` is missing (in CI, where skipWithout did not skip). */
export function requirePeer(peer: Peer): void {
  if (!peer.present) throw new Error(`${peer.what} is missing: ${peer.install} (CI=${process.env.CI})`);
}

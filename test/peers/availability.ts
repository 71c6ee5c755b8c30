// Real peers are Debian packages. Outside CI a missing one skips its tests with a message; CI installs them all,
// so there a missing peer must fail instead of passing silently.

export interface Peer {
  what: string;
  present: boolean;
  /** The Debian package that installs it. */
  package: string;
}

/** True when the tests needing `peer` should be skipped (it is missing and CI is unset). */
export function skipWithout(peer: Peer): boolean {
  if (peer.present || process.env.CI) return false;
  console.warn(`skipping: ${peer.what} is missing (apt-get install ${peer.package}); CI installs it`);
  return true;
}

/** Throws when `peer` is missing (in CI, where skipWithout did not skip). */
export function requirePeer(peer: Peer): void {
  if (!peer.present) throw new Error(`${peer.what} is missing: apt-get install ${peer.package} (CI=${process.env.CI})`);
}

/** The one line a run ends with when peers are missing: what was skipped and the command that installs it. */
export function missingPeersLine(peers: readonly Peer[]): string | undefined {
  const missing = peers.filter((p) => !p.present);
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((p) => p.package))].join(' ');
  const what = missing.map((p) => p.what).join(', ');
  return `skipped: the tests that need ${what}; to run them: sudo apt-get install ${packages}`;
}

// Debian's chromium, driven by playwright-core over CDP: never a downloaded browser. Each launch gets a fresh
// profile in a temp dir, removed on close.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumPeer = { what: CHROMIUM, present: existsSync(CHROMIUM), package: 'chromium' };

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** `extraArgs`: more chromium switches (e.g. --ignore-certificate-errors for the https demo). */
export async function launchChromium(extraArgs: string[] = []): Promise<Chromium> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'wslay-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      viewport: { width: 900, height: 760 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        ...extraArgs,
      ],
    });
    return {
      context,
      async close() {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

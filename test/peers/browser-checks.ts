// The browser tests, shared by test/browser.test.ts (chromium → echo server) and test/nginx.test.ts (chromium →
// nginx → echo server): the demo page is driven through its controls, and page-side WebSockets check 1 MiB
// messages byte for byte; its chat tab talks to page-side chat sockets, and its live panel charts the figures. Registers its tests in the caller's describe().
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { launchChromium, type Chromium } from './chromium.js';

export interface BrowserTarget {
  /** http://host:port (or https://) of the server that serves the page and the WebSocket. */
  base: string;
  /** Stops the echo server: it closes its connections with 1001 first. */
  stopServer(): Promise<void>;
}

const TEXT = 'héllo wörld — ✓ 𝄞 日本語';
const MIB = 1024 * 1024;

interface RoundTrips {
  extensions: string;
  results: Array<{ kind: string; bytes: number; equal: boolean }>;
  close: { code: number; reason: string; wasClean: boolean };
}

/** In the page: opens `url`, sends each message, compares each echo with what was sent, closes with 1000. */
function roundTrips(page: Page, url: string): Promise<RoundTrips> {
  return page.evaluate(
    async ({ url, size, text }) => {
      const randomBytes = (n: number): Uint8Array => {
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
        return b;
      };
      // Random multi-byte characters (1 to 4 UTF-8 bytes each), about `size` bytes.
      const chars = ['a', 'é', '€', '𝄞', '日'];
      const bigText = Array.from(randomBytes(Math.ceil(size / 2.6)), (b) => chars[b % chars.length]).join('');
      const messages: Array<[string, string | Uint8Array]> = [
        ['text', text],
        ['binary', randomBytes(1000)],
        ['empty binary', new Uint8Array(0)],
        ['large text', bigText],
        ['large binary', randomBytes(size)],
      ];
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const inbox: Array<string | ArrayBuffer> = [];
      let wake = (): void => undefined;
      ws.onmessage = (e) => {
        inbox.push(e.data);
        wake();
      };
      const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', resolve));
      const deadline = (ms: number, what: string): Promise<never> =>
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms));
      const opened = new Promise((resolve) => (ws.onopen = resolve));
      const refused = closed.then((e) => Promise.reject(new Error(`closed before open: ${e.code}`)));
      await Promise.race([opened, refused, deadline(10_000, 'open')]);
      const results = [];
      for (const [kind, data] of messages) {
        ws.send(data);
        if (!inbox.length) {
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), deadline(20_000, `${kind} echo`)]);
        }
        const got = inbox.shift()!;
        let equal: boolean;
        if (typeof data === 'string') equal = got === data;
        else {
          const bytes = typeof got === 'string' ? null : new Uint8Array(got);
          equal = !!bytes && bytes.length === data.length && bytes.every((v, i) => v === data[i]);
        }
        const bytes = typeof data === 'string' ? new TextEncoder().encode(data).length : data.length;
        results.push({ kind, bytes, equal });
      }
      const extensions = ws.extensions;
      ws.close(1000, 'done');
      const e = await Promise.race([closed, deadline(10_000, 'close')]);
      return { extensions, results, close: { code: e.code, reason: e.reason, wasClean: e.wasClean } };
    },
    { url, size: MIB, text: TEXT },
  );
}

export function defineBrowserTests(target: () => BrowserTarget, screenshot: string, chromiumArgs: string[] = []): void {
  let browser: Chromium;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium(chromiumArgs);
    page = await browser.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  const echoes = () => page.locator('#log li[data-kind="echo"]');
  const closes = () => page.locator('#log li[data-kind="close"]');
  const state = (s: string) => page.locator(`#state[data-state="${s}"]`);
  /** Runs `action` and returns the data-code and data-clean of the close entry it led to. */
  async function closeAfter(action: () => Promise<unknown>): Promise<[string?, string?]> {
    const before = await closes().count();
    await action();
    await expect.poll(() => closes().count(), { timeout: 10_000 }).toBe(before + 1);
    return closes().nth(before).evaluate((li) => [li.dataset.code, li.dataset.clean] as [string?, string?]);
  }
  /** Runs `action` and returns the data-ok and data-bytes of the echo entry it led to. */
  async function echoAfter(action: () => Promise<unknown>): Promise<[string?, string?]> {
    const before = await echoes().count();
    await action();
    await expect.poll(() => echoes().count(), { timeout: 10_000 }).toBe(before + 1);
    return echoes().nth(before).evaluate((li) => [li.dataset.ok, li.dataset.bytes] as [string?, string?]);
  }

  it('the demo page connects with permessage-deflate and echoes typed multi-byte text and random bytes', async () => {
    await page.goto(`${target().base}/`);
    await state('open').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#extensions').textContent()).toBe('permessage-deflate');
    await page.fill('#text', TEXT);
    expect(await echoAfter(() => page.click('#send-text'))).toEqual(['true', String(Buffer.byteLength(TEXT))]);
    expect(await echoes().last().textContent()).toContain(TEXT);
    await page.fill('#size', '65536');
    expect(await echoAfter(() => page.click('#send-binary'))).toEqual(['true', '65536']);
  });

  it('the compression toggle reconnects (close 1000) without permessage-deflate, and back', async () => {
    expect(await closeAfter(() => page.uncheck('#deflate'))).toEqual(['1000', 'true']);
    await state('open').waitFor({ timeout: 10_000 });
    expect(await page.locator('#url').textContent()).toMatch(/\/\?deflate=0$/);
    await expect.poll(() => page.locator('#extensions').textContent()).toBe('none');
    expect((await echoAfter(() => page.click('#send-text')))[0]).toBe('true');

    expect(await closeAfter(() => page.check('#deflate'))).toEqual(['1000', 'true']);
    await state('open').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#extensions').textContent()).toBe('permessage-deflate');
  });

  it('the chat tab talks in a room over topics, not across rooms; the live panel charts the server figures', async () => {
    await page.click('#tab-chat');
    await page.fill('#chat-name', 'ann');
    await page.fill('#chat-room', 'demo');
    await page.click('#chat-join');
    await page.locator('#chat-state[data-state="open"]').waitFor({ timeout: 10_000 });
    const chatLines = () => page.locator('#chat-log li').allTextContents();
    await expect.poll(chatLines, { timeout: 5000 }).toContain('server: ann joined');

    // Two page-side sockets: bob in the same room, eve in another.
    const base = target().base.replace(/^http/, 'ws');
    await page.evaluate(async (base) => {
      const w = window as unknown as Record<string, unknown>;
      const open = (room: string, name: string): Promise<{ ws: WebSocket; heard: string[] }> =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`${base}/chat?room=${room}&name=${name}`);
          const heard: string[] = [];
          ws.onmessage = (e) => {
            const { from, text } = JSON.parse(e.data as string) as { from: string; text: string };
            heard.push(`${from}: ${text}`);
          };
          ws.onopen = () => resolve({ ws, heard });
          ws.onerror = () => reject(new Error(`${name} could not connect`));
        });
      w.bob = await open('demo', 'bob');
      w.eve = await open('elsewhere', 'eve');
    }, base);
    await expect.poll(chatLines, { timeout: 5000 }).toContain('server: bob joined');
    await page.fill('#chat-text', 'hello bob ✓');
    await page.click('#chat-send');
    const heard = (who: string) =>
      page.evaluate((who) => ((window as unknown as Record<string, { heard: string[] }>)[who]).heard, who);
    await expect.poll(() => heard('bob'), { timeout: 5000 }).toContain('ann: hello bob ✓');
    await page.evaluate(() => {
      const w = window as unknown as Record<string, { ws: WebSocket }>;
      w.bob.ws.send('hi ann');
      w.eve.ws.send('eve marker');
    });
    await expect.poll(chatLines, { timeout: 5000 }).toContain('bob: hi ann');
    await expect.poll(() => heard('eve'), { timeout: 5000 }).toContain('eve: eve marker');
    expect(await heard('eve')).toEqual(['server: eve joined', 'eve: eve marker']);
    expect(await chatLines()).toEqual(['server: ann joined', 'server: bob joined', 'ann: hello bob ✓', 'bob: hi ann']);

    // The live panel: a sample a second over the page's `stats` socket; this page holds 5 connections now.
    const samples = async (): Promise<number> => Number(await page.locator('#chart').getAttribute('data-samples'));
    await expect.poll(samples, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const connections = async (): Promise<number> => Number(await page.locator('#fig-connections').textContent());
    await expect.poll(connections, { timeout: 5000 }).toBeGreaterThanOrEqual(5);
    const points = (await page.locator('#line-out').getAttribute('points'))!.trim().split(' ');
    expect(points.length).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#fig-rss').textContent()).toMatch(/MiB$/);
    fs.mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-chat.png'), fullPage: true });

    await page.evaluate(() => {
      const w = window as unknown as Record<string, { ws: WebSocket }>;
      w.bob.ws.close();
      w.eve.ws.close();
    });
    await expect.poll(chatLines, { timeout: 5000 }).toContain('server: bob left');
    await page.click('#tab-echo');
  });

  it.each([
    ['/', 'permessage-deflate'],
    ['/?deflate=0', ''],
  ])('page WebSocket to %s: text, binary and 1 MiB messages come back byte-exact; close 1000 answered', async (p, ext) => {
    const r = await roundTrips(page, `${target().base.replace(/^http/, 'ws')}${p}`);
    expect(r.extensions).toBe(ext);
    expect(r.results.map((x) => [x.kind, x.equal])).toEqual([
      ['text', true],
      ['binary', true],
      ['empty binary', true],
      ['large text', true],
      ['large binary', true],
    ]);
    expect(r.results.find((x) => x.kind === 'large binary')!.bytes).toBe(MIB);
    expect(r.results.find((x) => x.kind === 'large text')!.bytes).toBeGreaterThan(MIB * 0.9);
    expect(r.close).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('Close (1000) on the page closes cleanly with 1000', async () => {
    await state('open').waitFor({ timeout: 10_000 });
    expect(await closeAfter(() => page.click('#disconnect'))).toEqual(['1000', 'true']);
    await state('closed').waitFor({ timeout: 5000 });
    fs.mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  });

  it('the page shows 1001 when the server shuts down', async () => {
    await page.click('#connect');
    await state('open').waitFor({ timeout: 10_000 });
    expect((await closeAfter(() => target().stopServer()))[0]).toBe('1001');
    await state('closed').waitFor({ timeout: 5000 });
    expect(pageErrors).toEqual([]);
  });
}

/**
 * Debian's chromium, headless, driven by puppeteer-core (which uses the installed
 * browser and downloads nothing), for the web admin's tests and the screenshot script.
 * The flags keep Chromium off the network (no component updates, sync, QUIC or
 * background fetches, which stall on a closed network) and a fresh profile per launch.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const chromiumMissing = CHROMIUM ? '' : 'chromium not installed (Debian package "chromium"); the web admin browser tests are skipped';
if (chromiumMissing) console.warn(chromiumMissing);

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'mailserver-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The server's certificate is self-signed.
    acceptInsecureCerts: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

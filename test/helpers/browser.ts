import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';

/** Debian's chromium; a test never downloads a browser. */
export const kChromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the browser tests save their screenshots (git-ignored). */
export const kScreenshots = fileURLToPath(new URL('../../.screenshots/', import.meta.url));

let built: Promise<unknown> | undefined;

/** Builds the page once per test process (npm test has built it already; a file run alone needs it). */
export function ensureDashboardBuilt(): Promise<unknown> {
  built ??= buildDashboard();
  return built;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: kChromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page that records every console error, page error, failed request and request to another origin than
 * `origin` (the page must load nothing from elsewhere).
 */
export async function openPage(browser: Browser, origin: string, width = 1280, height = 1000) {
  const page = await browser.newPage({ viewport: { width, height } });
  const problems: string[] = [];
  page.on('console', (message) => {
    // (warnings are left out: reading canvas pixels back, as the tests do, makes chromium warn)
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (request) => {
    // the event stream is cut when the page closes
    if (!request.url().endsWith('/dashboard/events')) {
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:')) problems.push(`foreign request: ${url}`);
  });
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(kScreenshots, { recursive: true });
  const path = `${kScreenshots}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

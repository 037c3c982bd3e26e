// The dashboard with 10,000 slaves, in chromium: the fleet simulator's virtual slaves (bench/harness/virtual-fleet.ts) connect
// to a real master and heartbeat; the page must show all of them (count, one cell each) and its table must scroll,
// sort and filter through them. "Renders" means the expected values appear before a generous wait gives up: no
// timing is asserted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { VirtualFleet } from '../bench/harness/virtual-fleet.ts';
import type { Master } from '../src/index.ts';
import { ensureDashboardBuilt, launchChromium, openPage, screenshot } from './helpers/browser.ts';
import { startMaster } from './helpers/fleet.ts';

// the page.evaluate callbacks below run in the browser; this project's tsconfig has no DOM types
// biome-ignore lint/suspicious/noExplicitAny: the browser's document, typed loosely on purpose
declare const document: any;

const kSlaves = 10_000;
const name = (i: number) => `slave-${String(i).padStart(5, '0')}`;

describe('the dashboard at 10,000 slaves', () => {
  let master: Master;
  let fleet: VirtualFleet;
  let browser: Browser;

  before(async () => {
    await ensureDashboardBuilt();
    master = await startMaster({
      adminPort: 0,
      heartbeatTolerance: 30,
      heartbeatCheckSpan: 1,
      resultThreads: 1,
    });
    fleet = await VirtualFleet.start({
      ports: 4,
      heartbeatSpan: 2,
      heartbeatJitter: 0.1,
      resultBytes: 0,
      workUs: 0,
      sleepMs: 0,
      msgpack: false,
      sockets: 64,
      beatPipelining: 256,
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 128 }, async () => {
        while (next < kSlaves) {
          const i = next++;
          await master.newConnection(name(i), '127.0.0.1', fleet.ports[i % fleet.ports.length]!).connect();
        }
      }),
    );
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await master?.destroy();
    await fleet?.close();
  });

  test('shows every slave, one cell each, and its table scrolls, sorts and filters', async () => {
    assert.equal(master.names().length, kSlaves);
    const origin = `http://127.0.0.1:${master.adminPort}`;
    const { page, problems } = await openPage(browser, origin);
    await page.goto(`${origin}/dashboard`);
    const long = { timeout: 30_000 };
    await page.waitForFunction(
      () => document.getElementById('slaves-total')?.textContent === '10,000',
      undefined,
      long,
    );
    await page.waitForFunction(
      () => document.getElementById('heatmap')?.dataset.cells === '10000',
      undefined,
      long,
    );

    // every cell drawn: sample 500 cells spread over the map, each must be coloured (not the background)
    const blank = await page.evaluate((count) => {
      const canvas = document.getElementById('heatmap');
      const cell = Number(canvas.dataset.cell);
      const columns = Number(canvas.dataset.columns);
      const dpr = canvas.width / canvas.clientWidth;
      const { data, width } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      const missing: number[] = [];
      for (let k = 0; k < 500; k++) {
        const i = Math.floor((k * (count - 1)) / 499);
        const x = Math.floor(((i % columns) * cell + cell / 2 - 0.5) * dpr);
        const y = Math.floor((Math.floor(i / columns) * cell + cell / 2 - 0.5) * dpr);
        if (data[(y * width + x) * 4 + 3] < 200) missing.push(i);
      }
      return missing;
    }, kSlaves);
    assert.deepEqual(blank, [], 'cells without colour');

    // the table: all counted, few rows in the DOM (virtualised), and the last one reachable by scrolling
    await page.waitForFunction(
      () => document.querySelector('.table-count')?.textContent === '10,000 of 10,000 slaves',
      undefined,
      long,
    );
    const rendered = await page.$$eval('.table-row', (rows) => rows.length);
    assert.ok(rendered > 10 && rendered < 80, `${rendered} rows in the DOM for 10,000 slaves`);
    const firstRow = () => page.$eval('.table-row .cell-name', (c) => c.textContent);
    assert.equal(await firstRow(), name(0));
    await page.$eval('.table-viewport', (v) => {
      v.scrollTop = v.scrollHeight;
    });
    await page.waitForFunction(
      (last) => [...document.querySelectorAll('.table-row .cell-name')].some((c) => c.textContent === last),
      name(kSlaves - 1),
      long,
    );
    await page.$eval('.table-viewport', (v) => {
      v.scrollTop = v.scrollHeight / 2;
    });
    await page.waitForFunction(
      (middle) =>
        [...document.querySelectorAll('.table-row .cell-name')].some((c) => c.textContent === middle),
      name(kSlaves / 2),
      long,
    );
    const tenK = await screenshot(page, 'dashboard-4-10k');

    // sort by name, descending; then filter by name
    await page.$eval('.table-viewport', (v) => {
      v.scrollTop = 0;
    });
    await page.click('button[data-sort="name"]');
    await page.waitForFunction(
      (last) => document.querySelector('.table-row .cell-name')?.textContent === last,
      name(kSlaves - 1),
    );
    await page.fill('input.table-filter', 'slave-0999');
    await page.waitForFunction(
      () => document.querySelector('.table-count')?.textContent === '10 of 10,000 slaves',
    );
    const shown = await page.$$eval('.table-row .cell-name', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(
      shown,
      Array.from({ length: 10 }, (_, k) => name(9999 - k)),
    );

    assert.deepEqual(problems, [], 'no console error, no failed or foreign request');
    assert.equal(master.stats().evictions, 0, 'the fleet stayed healthy while the page watched');
    console.log(`# screenshot: ${tenK}`);
    await page.close();
  });
});

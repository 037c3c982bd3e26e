// The dashboard in a real browser (Debian's chromium through playwright-core): a master with real slaves, one of
// them in a child process that is SIGSTOPped. Checks what a person sees: the slave count, one cell per slave, the
// stopped slave's cell turning red and then leaving when it is evicted, the events list naming it, the charts
// drawn, the table, and no console error. Screenshots go to .screenshots/ (git-ignored).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Master, Slave } from '../src/index.ts';
import { ensureDashboardBuilt, launchChromium, openPage, screenshot } from './helpers/browser.ts';
import { type ChildSlave, spawnSlave, startMaster, startSlave } from './helpers/fleet.ts';

// the page.evaluate callbacks below run in the browser; this project's tsconfig has no DOM types
// biome-ignore lint/suspicious/noExplicitAny: the browser's document, typed loosely on purpose
declare const document: any;

/** The colour of slave `index` (in the page's order) at its cell's centre, as [r, g, b, a]. */
function cellColour(page: Page, index: number): Promise<number[]> {
  return page.evaluate((i) => {
    const canvas = document.getElementById('heatmap');
    const cell = Number(canvas.dataset.cell);
    const columns = Number(canvas.dataset.columns);
    const dpr = canvas.width / canvas.clientWidth;
    const x = ((i % columns) * cell + cell / 2) * dpr;
    const y = (Math.floor(i / columns) * cell + cell / 2) * dpr;
    return [...canvas.getContext('2d')!.getImageData(Math.floor(x), Math.floor(y), 1, 1).data];
  }, index);
}

const isGreen = ([r, g, b]: number[]) => g! > 150 && r! < 110 && b! < 110;
const isRed = ([r, g, b]: number[]) => r! > 150 && g! < 60 && b! < 60;

/** Pixels of `rgb` (±12 per channel) on the canvases under `selector`. */
function pixelsOf(page: Page, selector: string, rgb: [number, number, number]): Promise<number> {
  return page.evaluate(
    ({ selector, rgb }) => {
      let found = 0;
      for (const canvas of document.querySelectorAll(`${selector} canvas`)) {
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        for (let p = 0; p < data.length; p += 4) {
          if (
            Math.abs(data[p]! - rgb[0]) <= 12 &&
            Math.abs(data[p + 1]! - rgb[1]) <= 12 &&
            Math.abs(data[p + 2]! - rgb[2]) <= 12 &&
            data[p + 3]! > 200
          ) {
            found++;
          }
        }
      }
      return found;
    },
    { selector, rgb },
  );
}

/** Waits (polling, up to 10 s) until a line of that colour is drawn: at least 50 of its pixels. */
async function waitForPixels(page: Page, selector: string, rgb: [number, number, number], what: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await pixelsOf(page, selector, rgb);
    if (found >= 50) return;
    if (Date.now() > deadline) assert.fail(`${what} is not drawn (${found} pixels of its colour)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the dashboard in chromium', () => {
  let master: Master;
  const slaves: Slave[] = [];
  let child: ChildSlave;
  let browser: Browser;
  let stopLoops = false;
  let loops: Promise<void>[] = [];

  before(async () => {
    await ensureDashboardBuilt();
    master = await startMaster({
      adminPort: 0,
      heartbeatTolerance: 4,
      heartbeatCheckSpan: 0.2,
      resultThreads: 1,
    });
    for (let i = 1; i <= 3; i++) {
      const slave = await startSlave({
        heartbeatSpan: 0.2,
        processTask: async (d) => {
          await new Promise((r) => setTimeout(r, 20));
          return d;
        },
      });
      slaves.push(slave);
      await master.newConnection(`slave-${i}`, '127.0.0.1', slave.port).connect();
    }
    child = await spawnSlave({ 'heartbeat-span': 0.2, 'work-ms': 50 });
    await master.newConnection('stopped-slave', '127.0.0.1', child.port).connect();
    // every slave works, one task after another, so the charts have something to draw
    loops = master.names().map(async (name) => {
      const connection = master.get(name);
      while (!stopLoops && connection.isConnected) {
        const task = connection.newTask({ a: 1, b: 2 });
        await task.start().catch(() => undefined);
        await task.join();
      }
    });
    browser = await launchChromium();
  });

  after(async () => {
    stopLoops = true;
    child.child.kill('SIGCONT');
    child.child.kill('SIGKILL');
    await browser?.close();
    await master.close();
    await Promise.all(loops);
    await Promise.all(slaves.map((s) => s.close()));
  });

  test('shows the fleet, a SIGSTOPped slave turning red, then its eviction', async () => {
    const origin = `http://127.0.0.1:${master.adminPort}`;
    const { page, problems } = await openPage(browser, origin);
    await page.goto(`${origin}/dashboard`);

    // the fleet at a glance: 4 slaves, one cell each, all green
    await page.waitForFunction(() => document.getElementById('slaves-total')?.textContent === '4');
    await page.waitForFunction(() => document.getElementById('heatmap')?.dataset.cells === '4');
    for (let i = 0; i < 4; i++) assert.ok(isGreen(await cellColour(page, i)), `cell ${i} is green`);
    assert.equal(await page.textContent('#stream-status'), 'live');
    const rows = await page.$$eval('.table-row .cell-name', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(rows, ['slave-1', 'slave-2', 'slave-3', 'stopped-slave']);

    // the charts draw: three points or more, the "tasks done" line and the tolerance line on their canvases
    await page.waitForFunction(
      () => Number(document.getElementById('tasks-done')?.textContent?.replace(/,/g, '')) > 20,
    );
    await waitForPixels(page, '#chart-throughput', [0x2f, 0x9e, 0x44], 'the tasks-done line');
    await waitForPixels(page, '#chart-ages', [0x49, 0x50, 0x57], 'the tolerance line');
    const healthy = await screenshot(page, 'dashboard-1-healthy');

    // the slave in the child process stops: its cell turns red before the sweep evicts it
    child.child.kill('SIGSTOP');
    const stoppedIndex = 3;
    await page.waitForFunction(
      (i) => {
        const canvas = document.getElementById('heatmap');
        const cell = Number(canvas.dataset.cell);
        const columns = Number(canvas.dataset.columns);
        const dpr = canvas.width / canvas.clientWidth;
        const x = Math.floor(((i % columns) * cell + cell / 2) * dpr);
        const y = Math.floor((Math.floor(i / columns) * cell + cell / 2) * dpr);
        const [r, g, b] = canvas.getContext('2d')!.getImageData(x, y, 1, 1).data;
        return r! > 150 && g! < 60 && b! < 60;
      },
      stoppedIndex,
      { polling: 50, timeout: 10_000 },
    );
    assert.ok(isRed(await cellColour(page, stoppedIndex)));
    for (let i = 0; i < 3; i++) assert.ok(isGreen(await cellColour(page, i)), `cell ${i} stays green`);
    // hovering its cell names it
    const box = (await page.locator('#heatmap').boundingBox())!;
    const cell = Number(await page.getAttribute('#heatmap', 'data-cell'));
    await page.mouse.move(box.x + stoppedIndex * cell + cell / 2, box.y + cell / 2);
    await page.waitForFunction(() =>
      document.getElementById('heatmap-tooltip')?.textContent?.includes('stopped-slave'),
    );
    const tooltip = (await page.textContent('#heatmap-tooltip')) ?? '';
    assert.match(tooltip, new RegExp(`stopped-slave.*http://127\\.0\\.0\\.1:${child.port}`));
    assert.match(tooltip, /silent|late/);
    const red = await screenshot(page, 'dashboard-2-slave-red');

    // evicted: it leaves the count, the map and the table; the events list names it
    await page.waitForFunction(
      () => document.getElementById('slaves-total')?.textContent === '3',
      undefined,
      {
        timeout: 15_000,
      },
    );
    await page.waitForFunction(() => document.getElementById('heatmap')?.dataset.cells === '3');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#events-list li')].some((li) =>
        /stopped-slave evicted: silent for [\d.]+ s, 1 task lost/.test(li.textContent ?? ''),
      ),
    );
    assert.equal(await page.textContent('#evictions'), '1');
    const names = await page.$$eval('.table-row .cell-name', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(names, ['slave-1', 'slave-2', 'slave-3']);
    const failed = await page.$$eval('#events-list li[data-kind="task_failed"]', (lis) =>
      lis.map((li) => li.textContent),
    );
    assert.ok(
      failed.some((t) => t?.includes('slave_lost')),
      'its lost task is listed with its code',
    );
    const evicted = await screenshot(page, 'dashboard-3-evicted');

    assert.deepEqual(problems, [], 'no console error, no failed or foreign request');
    console.log(`# screenshots: ${healthy} ${red} ${evicted}`);
    await page.close();
  });
});

// `fleetmaster demo`'s workload: a real master, real slaves (half MessagePack, half JSON), the demo's result
// handler on the master's pool threads, one deliberately bad task, progress and a summary.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { type DemoScore, runDemo } from '../src/cli/demo.ts';
import scoreDemoResult from '../src/cli/demo-handler.ts';
import { type Master, type Task, TaskStatus } from '../src/index.ts';
import { quietLogger } from './helpers/fleet.ts';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
after(() => assert.deepEqual(unhandled, [], 'no unhandled rejection in this file'));

const kEsc = String.fromCharCode(0x1b);

/** A stream that keeps what is written to it, as text. */
function collector(tty = false) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (tty) stream.isTTY = true;
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

describe('runDemo', () => {
  test('runs every task on a fleet of both wire formats; the handler scores each result on the pool', async () => {
    const out = collector();
    const ended: Task[] = [];
    let seen: Master | undefined;
    let connectedWhenSeen: string[] = [];
    const summary = await runDemo(
      {
        slaves: 3,
        tasks: 30,
        samples: 20_000,
        resultThreads: 1,
        out: out.stream,
        masterOptions: { logger: quietLogger },
        onTask: (task) => ended.push(task),
      },
      (master) => {
        seen = master;
        connectedWhenSeen = master.names();
      },
    );

    // the first line names the engine the master serves with (uws where its native build loads, else node)
    assert.match(
      out.text(),
      new RegExp(`^master on 127\\.0\\.0\\.1:\\d+ \\(${seen?.engine} engine\\); 3 slaves connected`, 'm'),
    );
    assert.equal(summary.tasks, 30);
    assert.equal(summary.completed, 29);
    assert.equal(summary.failed, 1);
    assert.equal(summary.aborted, false);
    assert.equal(summary.samples, 29 * 20_000);
    assert.ok(Math.abs(summary.estimate - Math.PI) < 0.05, `estimate ${summary.estimate}`);
    assert.equal(summary.error, Math.abs(summary.estimate - Math.PI));
    assert.ok(summary.seconds > 0 && summary.tasksPerSecond > 0);
    assert.ok(Math.abs(summary.tasksPerSecond - 30 / summary.seconds) < 1e-9);
    assert.equal(summary.master.resultsDelivered, summary.completed + summary.failed);
    assert.equal(summary.master.resultsFailed, 0);
    assert.equal(summary.master.resultsInvalid, 0);
    assert.equal(summary.master.slaves, 3);
    assert.equal(summary.master.evictions, 0);

    // onMaster saw the started master with every slave connected; the handler ran on a pool thread
    assert.ok(seen, 'onMaster was called');
    assert.deepEqual(connectedWhenSeen.sort(), ['slave-1', 'slave-2', 'slave-3']);
    assert.equal(seen.options.resultThreads, 1);
    assert.match(seen.options.resultHandler ?? '', /\/src\/cli\/demo-handler\.ts$/);
    // …and everything was taken down
    assert.deepEqual(seen.names(), []);
    assert.equal(seen.isShuttingDown, true);
    assert.equal(await seen.ping(), false);

    // every task's result went through the handler: small scores, no raw trace
    assert.equal(ended.length, 30);
    const completed = ended.filter((t) => t.status === TaskStatus.COMPLETED);
    assert.equal(completed.length, 29);
    const bySlave = new Set<string>();
    for (const task of completed) {
      const score = task.result as DemoScore;
      assert.deepEqual(Object.keys(score).sort(), [
        'estimate',
        'inside',
        'samples',
        'slave',
        'traceMean',
        'traceStd',
      ]);
      assert.equal(typeof score.traceStd, 'number');
      assert.ok(Number.isFinite(score.traceStd) && score.traceStd >= 0);
      assert.ok(Math.abs(score.traceMean - Math.PI) < 0.2, `trace mean ${score.traceMean}`);
      assert.equal(score.samples, 20_000);
      assert.equal(score.estimate, (4 * score.inside) / score.samples);
      bySlave.add(score.slave);
    }
    // both MessagePack slaves (1, 3) and the JSON slave (2) did work
    assert.deepEqual([...bySlave].sort(), ['slave-1', 'slave-2', 'slave-3']);
    // the bad task (the 8th) failed on its slave with TaskFail's result, passed through unchanged
    const bad = ended.find((t) => t.status === TaskStatus.FAILED);
    assert.ok(bad);
    assert.deepEqual(bad.data, { seed: 8, samples: -1 });
    assert.deepEqual(bad.result, { reason: 'bad sample count -1', seed: 8 });

    // the output: no TTY, so plain lines; a final status line, then the summary
    const text = out.text();
    assert.ok(!text.includes('\r') && !text.includes(kEsc), 'no carriage returns or escape codes');
    assert.ok(text.endsWith('\n'));
    assert.match(
      text,
      /slaves 3\/3 connected · tasks 30\/30 done, 1 failed · [\d,]+ tasks\/s · π ≈ 3\.1\d+\n/,
    );
    assert.match(text, /29 completed, 1 failed of 30/);
    const rate = new Intl.NumberFormat('en', { maximumFractionDigits: 1 }).format(summary.tasksPerSecond);
    assert.ok(text.includes(`${rate} tasks/s`), `summary shows ${rate} tasks/s`);
    assert.match(text, /task seed 8 failed on slave-\d: .*bad sample count -1/);
    assert.match(text, /resultsDelivered 30/);
  });

  test('on a TTY it redraws one status line in place; abort stops handing out tasks and closes everything', async () => {
    const out = collector(true);
    const abort = new AbortController();
    let seen: Master | undefined;
    let ended = 0;
    const summary = await runDemo(
      {
        slaves: 2,
        tasks: 5000,
        samples: 20_000,
        out: out.stream,
        masterOptions: { logger: quietLogger },
        signal: abort.signal,
        onTask: () => {
          if (++ended === 20) abort.abort();
        },
      },
      (master) => {
        seen = master;
      },
    );
    assert.equal(summary.aborted, true);
    assert.ok(summary.completed + summary.failed >= 20);
    assert.ok(summary.completed + summary.failed < 5000);
    assert.equal(summary.master.resultsDelivered, summary.completed + summary.failed);
    assert.equal(summary.master.runningTasks, 0);
    assert.ok(seen);
    assert.deepEqual(seen.names(), []);
    assert.equal(await seen.ping(), false);

    const text = out.text();
    const redraws = text.split(`\r${kEsc}[2K`).slice(1);
    assert.ok(redraws.length >= 2, 'the status line is redrawn');
    assert.match(
      redraws[redraws.length - 1]!,
      /^slaves 2\/2 connected · tasks [\d,]+\/5,000 done, \d+ failed · /,
    );
    assert.match(text, /not run \(aborted\) of 5,000/);
    assert.ok(text.endsWith('\n'));
  });

  test('bad options are refused before anything starts', async () => {
    const out = collector();
    await assert.rejects(
      runDemo({ slaves: 0, tasks: 1, samples: 1, out: out.stream }),
      /options\.slaves must be an integer between 1 and 1000/,
    );
    await assert.rejects(
      runDemo({ slaves: 1, tasks: 1.5, samples: 1, out: out.stream }),
      /options\.tasks must be an integer/,
    );
    await assert.rejects(
      runDemo({ slaves: 1, tasks: 1, samples: 1, out: out.stream, keepRunning: true }),
      /options\.keepRunning needs options\.signal/,
    );
    assert.equal(out.text(), '');
  });

  test('keepRunning: past its tasks the fleet keeps working, slowly, until the signal', async () => {
    const out = collector();
    const abort = new AbortController();
    let ended = 0;
    const summary = await runDemo({
      slaves: 2,
      tasks: 2,
      samples: 1000,
      resultThreads: 1,
      out: out.stream,
      masterOptions: { logger: quietLogger },
      signal: abort.signal,
      keepRunning: true,
      onTask: () => {
        if (++ended === 5) abort.abort();
      },
    });
    assert.ok(ended >= 5, `${ended} tasks ended`);
    assert.equal(summary.completed + summary.failed, ended);
    assert.equal(summary.tasks, ended, 'the tasks handed out count');
    assert.equal(summary.aborted, false);
    assert.match(out.text(), /tasks \d+ done/);
    assert.doesNotMatch(out.text(), /not run/);
  });
});

describe('demo result handler', () => {
  const input = (result: unknown, outcome: 'complete' | 'fail' = 'complete') => ({
    taskId: 't-1',
    outcome,
    slave: 's1',
    result,
  });

  test('scores a result whose trace is binary or a plain array alike', () => {
    const trace = [3, 3.2, 3.1, 3.1];
    const expected = {
      slave: 's1',
      inside: 785,
      samples: 1000,
      estimate: 3.14,
      traceMean: 3.1,
      traceStd: Math.sqrt((0.01 + 0.01 + 0 + 0) / 4),
    };
    for (const t of [trace, Float64Array.from(trace)]) {
      const score = scoreDemoResult(input({ inside: 785, samples: 1000, trace: t })) as DemoScore;
      assert.equal(score.slave, expected.slave);
      assert.equal(score.estimate, expected.estimate);
      assert.ok(Math.abs(score.traceMean - expected.traceMean) < 1e-12);
      assert.ok(Math.abs(score.traceStd - expected.traceStd) < 1e-12);
    }
  });

  test('throws a clear error for a malformed result; passes a failure through unchanged', () => {
    assert.throws(() => scoreDemoResult(input(null)), /malformed demo result from s1 \(task t-1\)/);
    assert.throws(() => scoreDemoResult(input({ inside: 1, samples: 0, trace: [1] })), /samples must be/);
    assert.throws(() => scoreDemoResult(input({ inside: 5, samples: 4, trace: [1] })), /inside must be/);
    assert.throws(() => scoreDemoResult(input({ inside: 1, samples: 4, trace: {} })), /trace must be/);
    assert.throws(() => scoreDemoResult(input({ inside: 1, samples: 4, trace: [1, 'x'] })), /trace\[1\]/);
    const reason = { reason: 'bad sample count -1' };
    assert.equal(scoreDemoResult(input(reason, 'fail')), reason);
  });
});

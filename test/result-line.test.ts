// The stdout line of `master --tasks` for one task (src/cli/result-line.ts): pure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskLine } from '../src/cli/result-line.ts';

test('a result JSON can write: the whole line', () => {
  assert.deepEqual(taskLine({ slave: 's1', data: { a: 1 }, status: 'completed', result: { sum: 3 } }), {
    ok: true,
    line: '{"slave":"s1","data":{"a":1},"status":"completed","result":{"sum":3}}\n',
  });
});

test('a result JSON cannot write: the line keeps slave, data and status and says why, on one line', () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  for (const [what, result, reason] of [
    ['a BigInt', { n: 2n ** 70n }, 'TypeError: Do not know how to serialize a BigInt'],
    ['a cycle', cycle, 'TypeError: Converting circular structure to JSON'],
    ['nesting deeper than the stack', deep, 'RangeError: Maximum call stack size exceeded'],
  ] as const) {
    const written = taskLine({ slave: 's1', data: { i: 1 }, status: 'failed', result });
    assert.equal(written.ok, false, what);
    assert.ok(written.line.endsWith('\n') && written.line.indexOf('\n') === written.line.length - 1, what);
    assert.deepEqual(JSON.parse(written.line), {
      slave: 's1',
      data: { i: 1 },
      status: 'failed',
      resultError: `result could not be written as JSON: ${reason}`,
    });
  }
});

test('data JSON cannot write either (a line nested past the stack): the line still says how the task ended', () => {
  const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  const written = taskLine({ slave: 's1', data: deep, status: 'completed', result: deep });
  assert.equal(written.ok, false);
  assert.deepEqual(JSON.parse(written.line), {
    slave: 's1',
    status: 'completed',
    resultError: 'result could not be written as JSON: RangeError: Maximum call stack size exceeded',
  });
});

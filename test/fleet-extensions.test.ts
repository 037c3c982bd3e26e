// The extension tokens the fleet adds: `cancel`, and `concurrency=N` in a slave's /connect answer (bounded).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  announcedConcurrency,
  Extension,
  kMaxConcurrency,
  kOurExtensions,
  slaveExtensions,
  speaks,
} from '../src/protocol/extensions.ts';

test("a slave's list carries fleetmaster's extensions and its concurrency", () => {
  const header = slaveExtensions(8);
  assert.equal(header, `${kOurExtensions}, concurrency=8`);
  assert.equal(speaks(header, Extension.CANCEL), true);
  assert.equal(speaks(header, Extension.TASK_ID), true);
  assert.equal(announcedConcurrency(header), 8);
});

test('concurrency: a hostile or broken announcement is bounded or ignored, never trusted', () => {
  assert.equal(announcedConcurrency(''), undefined, 'a DI-engine slave announces nothing');
  assert.equal(announcedConcurrency('task-id, msgpack'), undefined);
  assert.equal(announcedConcurrency('concurrency=999999999'), kMaxConcurrency);
  assert.equal(announcedConcurrency('concurrency=1000000000000'), undefined, 'too many digits to be one');
  assert.equal(announcedConcurrency('concurrency=0'), undefined);
  assert.equal(announcedConcurrency('concurrency=-3'), undefined);
  assert.equal(announcedConcurrency('concurrency=2.5'), undefined);
  assert.equal(announcedConcurrency('concurrency=abc'), undefined);
  assert.equal(announcedConcurrency('xconcurrency=4'), undefined);
  assert.equal(announcedConcurrency('task-id,concurrency=4 , cancel'), 4);
});

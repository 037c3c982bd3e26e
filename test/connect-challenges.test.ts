// The slave's fleet-secret challenges, without sockets: single use, time-bounded, made by this slave only, and
// memory bounded whatever a caller asks for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectChallenges, kChallengeLimits } from '../src/slave/connect-challenges.ts';

function clocked(limits = kChallengeLimits) {
  const clock = { now: 1_000_000 };
  return { clock, book: new ConnectChallenges(limits, () => clock.now) };
}

test('a nonce is good once: ok until spent, then spent', () => {
  const { book } = clocked();
  const nonce = book.issue();
  assert.equal(book.check(nonce), 'ok');
  assert.equal(book.check(nonce), 'ok', 'checking does not spend: a bad proof over it leaves it usable');
  book.spend(nonce);
  assert.equal(book.check(nonce), 'spent');
  assert.notEqual(book.issue(), nonce, 'every nonce is new');
});

test('a nonce expires ttlMs after it was made', () => {
  const { book, clock } = clocked();
  const nonce = book.issue();
  clock.now += kChallengeLimits.ttlMs;
  assert.equal(book.check(nonce), 'ok', 'at the limit');
  clock.now += 1;
  assert.equal(book.check(nonce), 'expired');
});

test('only nonces this book made are known: another slave’s, altered, cut or padded ones are not', () => {
  const { book } = clocked();
  const other = new ConnectChallenges().issue();
  const nonce = book.issue();
  const flipped = `${nonce.slice(0, 10)}${nonce[10] === 'A' ? 'B' : 'A'}${nonce.slice(11)}`;
  for (const value of [other, flipped, nonce.slice(1), `${nonce}A`, `${nonce}=`, '', 'x'.repeat(46)]) {
    assert.equal(book.check(value), 'unknown', JSON.stringify(value));
  }
});

test('issuing holds nothing: a flood of challenges costs no memory', () => {
  const { book } = clocked();
  for (let i = 0; i < 100_000; i++) book.issue();
  assert.deepEqual(book.held, { spent: 0, tokens: 0 });
});

test('spent nonces are held until they expire, and never more than maxSpent', () => {
  const limits = { ttlMs: 1000, maxSpent: 3, maxTokens: 10 };
  const { book, clock } = clocked(limits);
  const spent = [book.issue(), book.issue(), book.issue()];
  for (const nonce of spent) {
    assert.equal(book.check(nonce), 'ok');
    book.spend(nonce);
  }
  const fourth = book.issue();
  assert.equal(book.check(fourth), 'busy', 'full: refused until some expire (only secret holders spend)');
  assert.equal(book.held.spent, 3);
  clock.now += limits.ttlMs + 1;
  const fresh = book.issue();
  assert.equal(book.check(fresh), 'ok');
  assert.equal(book.held.spent, 0, 'expired entries are gone');
});

test('used tokens: remembered, the oldest forgotten past maxTokens', () => {
  const { book } = clocked({ ttlMs: 1000, maxSpent: 10, maxTokens: 2 });
  book.useToken('a');
  book.useToken('b');
  assert.equal(book.isTokenUsed('a'), true);
  book.useToken('c');
  assert.equal(book.isTokenUsed('a'), false);
  assert.equal(book.isTokenUsed('b'), true);
  assert.equal(book.isTokenUsed('c'), true);
  assert.equal(book.held.tokens, 2);
});

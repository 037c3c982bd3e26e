import assert from 'node:assert/strict';
import type { RawAnswer } from './raw-http.ts';

/** The protocol's answer body, as it travels. */
export interface WireEnvelope {
  success: boolean;
  code: number;
  message: string;
  data: unknown;
}

/**
 * Asserts that an answer is exactly the protocol envelope (these four keys and no other, JSON content type)
 * with this HTTP status and code, a non-empty message and `success` true only for code 0.
 */
export function assertEnvelope(answer: RawAnswer, status: number, code: number, label = ''): WireEnvelope {
  const at = label === '' ? '' : ` (${label})`;
  assert.equal(answer.status, status, `HTTP status${at}; body: ${answer.body}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, `content-type${at}`);
  const value: unknown = JSON.parse(answer.body);
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `envelope object${at}`);
  assert.deepEqual(Object.keys(value).sort(), ['code', 'data', 'message', 'success'], `envelope keys${at}`);
  const envelope = value as WireEnvelope;
  assert.equal(envelope.code, code, `code${at}; message: ${envelope.message}`);
  assert.equal(envelope.success, code === 0, `success${at}`);
  assert.equal(typeof envelope.message, 'string', `message type${at}`);
  assert.notEqual(envelope.message, '', `message empty${at}`);
  return envelope;
}

/** A refusal: status, code, and the data it carries (null unless a hook gave some). */
export function assertFailure(
  answer: RawAnswer,
  status: number,
  code: number,
  label = '',
  data: unknown = null,
) {
  const envelope = assertEnvelope(answer, status, code, label);
  assert.deepEqual(envelope.data, data, `data${label === '' ? '' : ` (${label})`}`);
  return envelope;
}

/** A success: 200, code 0, and the message (exact, or matching). */
export function assertSuccess(answer: RawAnswer, message: string | RegExp, label = '') {
  const envelope = assertEnvelope(answer, 200, 0, label);
  if (typeof message === 'string') assert.equal(envelope.message, message, label);
  else assert.match(envelope.message, message, label);
  return envelope;
}

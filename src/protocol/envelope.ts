/** The JSON body of every answer, on both ends. */
export interface Envelope<D = unknown> {
  success: boolean;
  code: number;
  message: string;
  data: D | null;
}

export function successEnvelope(message = 'Success.', data: unknown = null): string {
  return JSON.stringify({ success: true, code: 0, message, data });
}

export function failureEnvelope(code: number, message = 'Failed.', data: unknown = null): string {
  return JSON.stringify({ success: false, code, message, data });
}

/** A prepared answer: status line and body computed once, written many times. */
export interface Answer {
  readonly status: string;
  /** The envelope's code (0 for success), kept for counting. */
  readonly code: number;
  readonly body: string;
}

const kStatusText: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return kStatusText[status] ?? `${status} Status`;
}

export function answer(status: number, body: string, code = 0): Answer {
  return Object.freeze({ status: statusLine(status), code, body });
}

export function fail(status: number, code: number, message: string, data: unknown = null): Answer {
  return answer(status, failureEnvelope(code, message, data), code);
}

export function ok(message: string, data: unknown = null): Answer {
  return answer(200, successEnvelope(message, data));
}

/** Reads an envelope defensively: a peer may answer anything. */
export function parseEnvelope(text: string): Envelope | undefined {
  // a peer answers the same request with the same bytes (a slave's "Task received!", thousands a second)
  if (text === lastText) return lastEnvelope;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.success !== 'boolean' || typeof v.code !== 'number') return undefined;
  const envelope: Envelope = {
    success: v.success,
    code: v.code,
    message: typeof v.message === 'string' ? v.message : '',
    data: (v.data ?? null) as unknown,
  };
  // only an envelope without data is shared by the next identical answer (frozen: nobody can change it)
  if (envelope.data === null) {
    lastText = text;
    lastEnvelope = Object.freeze(envelope);
  }
  return envelope;
}

let lastText: string | undefined;
let lastEnvelope: Envelope | undefined;

import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

/** Reads an event stream over a real socket; `events` fills as they come. */
export function openEventStream(url: string) {
  const events: SseEvent[] = [];
  let status = 0;
  let headers: http.IncomingHttpHeaders = {};
  let bytes = 0;
  let ended = false;
  let text = '';
  const req = http.get(url, (res) => {
    status = res.statusCode ?? 0;
    headers = res.headers;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      bytes += Buffer.byteLength(chunk);
      text += chunk;
      let cut = text.indexOf('\n\n');
      while (cut >= 0) {
        const block = text.slice(0, cut);
        text = text.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) events.push({ event, data: data.join('\n') });
        cut = text.indexOf('\n\n');
      }
    });
    res.on('end', () => {
      ended = true;
    });
  });
  req.on('error', () => {
    ended = true;
  });
  return {
    events,
    get status() {
      return status;
    },
    get headers() {
      return headers;
    },
    get bytes() {
      return bytes;
    },
    get ended() {
      return ended;
    },
    close: () => req.destroy(),
  };
}

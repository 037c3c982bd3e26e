import { kSilentLogger, type Logger } from '../options.ts';
import { type EngineChoice, type HttpEngine, runtime } from './engine.ts';
import { nodeEngine } from './engines/node.ts';
import { loadUws, uwsEngine } from './engines/uws.ts';

let warned = false;

/**
 * The engine for a master or a slave. `uws` where a native uWebSockets.js build loads (refusing `'uws'` with
 * an error naming what was found where none does), `node` when asked or as `auto`'s fallback, with one warn
 * line per process saying why (logged through the first logger that is not silent).
 */
export function selectEngine(choice: EngineChoice, logger: Logger): HttpEngine {
  if (choice === 'node') return nodeEngine;
  const uws = loadUws();
  if (!(uws instanceof Error)) return uwsEngine(uws);
  if (choice === 'uws') throw uws;
  if (!warned && logger !== kSilentLogger) {
    warned = true;
    const found = runtime();
    logger.warn(
      { engine: 'node', reason: uws.reason, abi: found.abi, platform: found.platform, libc: found.libc },
      'no native uWebSockets.js build loads here: serving HTTP with node:http',
    );
  }
  return nodeEngine;
}

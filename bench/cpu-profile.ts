/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): where the non-idle time went, by function and by
 * place (fleetmaster's src/, uWS, node internals, GC, native code). Pure: takes the parsed JSON.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileLine {
  name: string;
  /** Self time in milliseconds. */
  selfMs: number;
  /** Share of the busy (non-idle) time, 0–1. */
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  /** Busy time by place: `src/…` (fleetmaster), `uWebSockets.js`, `node:…`, `(garbage collector)`, `(program)`… */
  places: ProfileLine[];
  functions: ProfileLine[];
}

/** Where a frame's code lives, coarse enough to read at a glance. */
export function placeOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const src = url.lastIndexOf('/src/');
  if (src >= 0 && !url.includes('/node_modules/')) return url.slice(src + 1);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length).split('/')[0] ?? url;
  const bench = url.lastIndexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

export function summariseCpuProfile(profile: CpuProfile, top = 15): ProfileSummary {
  // self time per node: each sample's time delta belongs to the node sampled before it (Chrome's attribution)
  const selfUs = new Map<number, number>();
  const { samples = [], timeDeltas = [] } = profile;
  if (samples.length > 0 && timeDeltas.length === samples.length) {
    for (let i = 0; i < samples.length - 1; i++) {
      const id = samples[i]!;
      selfUs.set(id, (selfUs.get(id) ?? 0) + (timeDeltas[i + 1] ?? 0));
    }
  } else {
    const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
    const perHit = total > 0 ? (profile.endTime - profile.startTime) / total : 0;
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * perHit);
  }

  let idleUs = 0;
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const place = placeOf(frame);
    const name =
      frame.url === ''
        ? frame.functionName
        : // tsx emits each module on one line: the column tells two anonymous closures apart
          `${frame.functionName || '(anonymous)'} ${place}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  }
  let busyUs = 0;
  for (const us of byPlace.values()) busyUs += us;
  const lines = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    places: lines(byPlace),
    functions: lines(byFunction),
  };
}

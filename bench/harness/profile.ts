/**
 * V8 CPU profiles (`.cpuprofile`, from the inspector or `node --cpu-prof`): where the non-idle time went, by
 * function and by place (fleetmaster's src/, uWS, node internals, GC, native code); a profile cut to a measured
 * window; a `--cpu-prof` directory read thread by thread; the two tables a report prints.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Column, fixed, percent, table } from './report.ts';

/** Profiler sampling interval: fine enough to see a 10 µs request's parts over a few seconds. */
export const kProfileIntervalUs = 250;

/** The node flags that make a child write a CPU profile of each of its threads into `dir` as it exits. */
export const cpuProfArgs = (dir: string) => [
  '--cpu-prof',
  `--cpu-prof-dir=${dir}`,
  `--cpu-prof-interval=${kProfileIntervalUs}`,
];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; hitCount?: number }[];
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
  /** Busy time a pool thread spent blocked in piscina's `Atomics.wait` loop (the profiler counts it as busy). */
  waitingMs: number;
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
  return bench >= 0 ? url.slice(bench + 1) : url;
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
  let waitingUs = 0;
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
    if (frame.functionName === 'atomicsWaitLoop') waitingUs += us;
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
    waitingMs: waitingUs / 1000,
    places: lines(byPlace),
    functions: lines(byFunction),
  };
}

/**
 * Keeps only the samples taken in [fromUs, toUs] (the profile's clock is `process.hrtime` in µs), so a
 * profile of the child's whole life shows the measured window alone. Pure.
 */
export function trimCpuProfile(profile: CpuProfile, fromUs: number, toUs: number): CpuProfile {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const keptSamples: number[] = [];
  const keptDeltas: number[] = [];
  let t = profile.startTime;
  let previous: number | undefined;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    keptSamples.push(samples[i]!);
    keptDeltas.push(previous === undefined ? 0 : t - previous);
    previous = t;
  }
  const counts = new Map<number, number>();
  for (const id of keptSamples) counts.set(id, (counts.get(id) ?? 0) + 1);
  return {
    nodes: profile.nodes.map((node) => ({ ...node, hitCount: counts.get(node.id) ?? 0 })),
    startTime: Math.max(profile.startTime, fromUs),
    endTime: Math.min(profile.endTime, toUs),
    samples: keptSamples,
    timeDeltas: keptDeltas,
  };
}

/** Which thread wrote a `--cpu-prof` file: `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`; 0 is main. */
export function profileThreadOf(file: string): number {
  const parts = path.basename(file).split('.');
  return parts.length >= 7 ? Number(parts[parts.length - 3]) : Number.NaN;
}

export const readProfile = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as CpuProfile;

export interface ThreadProfile {
  file: string;
  thread: number;
  /** main thread, pool thread, or another (tsx's module loader). */
  role: string;
  summary: ProfileSummary;
}

/** Every `--cpu-prof` file a process left in `dir`, one per thread, main thread first; cut to `window` if given. */
export async function summariseProfileDir(
  dir: string,
  top: number,
  window?: readonly [number, number],
): Promise<ThreadProfile[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const out: ThreadProfile[] = [];
  for (const name of names.sort()) {
    const thread = profileThreadOf(name);
    const whole = await readProfile(path.join(dir, name));
    const profile = window ? trimCpuProfile(whole, window[0], window[1]) : whole;
    const pool = profile.nodes.some((n) => /\/src\/master\/results\/thread\.[jt]s$/.test(n.callFrame.url));
    const role =
      thread === 0
        ? 'main thread'
        : pool
          ? `pool thread (tid ${thread})`
          : `thread tid ${thread} (tsx's loader)`;
    out.push({ file: path.join(dir, name), thread, role, summary: summariseCpuProfile(profile, top) });
  }
  return out.sort((a, b) => (a.thread === 0 ? -1 : b.thread === 0 ? 1 : 0));
}

/** The busy time by place and by function, as two markdown tables. */
export function profileTables(p: ProfileSummary, places = true): string[] {
  const columns = (head: string, code: boolean): Column<ProfileLine>[] => [
    [head, 'l', (l) => (code ? `\`${l.name}\`` : l.name)],
    ['self ms', 'r', (l) => fixed(l.selfMs, 0)],
    ['share of busy', 'r', (l) => percent(l.share)],
  ];
  return [
    ...(places ? [...table(columns('place', false), p.places), ''] : []),
    ...table(columns('function', true), p.functions),
  ];
}

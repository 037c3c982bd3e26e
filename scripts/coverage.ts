// `npm run coverage`: the whole suite as `npm test` runs it (once per engine this Node runs) under c8,
// child processes and pool threads included (they inherit NODE_V8_COVERAGE; c8 merges every process's report,
// which Node 20's own --experimental-test-coverage does not do reliably). Writes coverage/lcov.info and prints the
// line coverage of every src/ file, lowest first, and the total; files under 80% are marked. Extra arguments are
// test files.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

mkdirSync('coverage', { recursive: true });
const c8 = fileURLToPath(new URL('../node_modules/c8/bin/c8.js', import.meta.url));
const run = spawnSync(
  process.execPath,
  [
    c8,
    '--reporter=lcov',
    '--reports-dir=coverage',
    '--include=src/**',
    // the dashboard page runs in a browser, not in node
    '--exclude=src/dashboard/**',
    process.execPath,
    '--import',
    'tsx',
    fileURLToPath(new URL('./test.ts', import.meta.url)),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);

interface FileLines {
  file: string;
  found: number;
  hit: number;
}

/** Line counts per source file from an lcov report (`SF`, then `LF` lines found and `LH` lines hit). */
export function lcovLines(text: string): FileLines[] {
  const out: FileLines[] = [];
  let current: FileLines | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('SF:')) current = { file: line.slice(3), found: 0, hit: 0 };
    else if (line.startsWith('LF:') && current) current.found = Number(line.slice(3));
    else if (line.startsWith('LH:') && current) current.hit = Number(line.slice(3));
    else if (line === 'end_of_record' && current) {
      out.push(current);
      current = undefined;
    }
  }
  return out;
}

const ours = lcovLines(readFileSync('coverage/lcov.info', 'utf8')).filter(
  (f) => f.file.startsWith('src/') && f.found > 0,
);
ours.sort((a, b) => a.hit / a.found - b.hit / b.found);
const pct = (hit: number, found: number) => `${((100 * hit) / found).toFixed(1)}%`;
console.log('\nline coverage of src/ (lowest first; * under 80%):');
for (const f of ours) {
  const mark = f.hit / f.found < 0.8 ? '*' : ' ';
  console.log(`${mark} ${pct(f.hit, f.found).padStart(6)}  ${f.file} (${f.hit}/${f.found})`);
}
const found = ours.reduce((n, f) => n + f.found, 0);
const hit = ours.reduce((n, f) => n + f.hit, 0);
console.log(`total: ${pct(hit, found)} of ${found} lines in ${ours.length} files (coverage/lcov.info)`);
process.exit(run.status ?? 1);

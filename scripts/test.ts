// `npm test`: the whole suite once per HTTP engine this Node can run (uws only where its native build loads;
// node always), each run with FLEETMASTER_ENGINE set, so every master and slave a test starts uses that engine.
// Extra arguments are test files (default: every test/*.test.ts); TEST_ENGINES=node limits the engines.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { loadUws } from '../src/http/engines/uws.ts';

const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync('test')
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => `test/${f}`);

const uws = loadUws();
const available = uws instanceof Error ? ['node'] : ['uws', 'node'];
if (uws instanceof Error) console.log(`# engine uws not run: ${uws.reason}`);
const wanted = process.env.TEST_ENGINES?.split(',').filter(Boolean) ?? available;
const engines = wanted.filter((engine) => available.includes(engine));

const results: string[] = [];
let failed = false;
for (const engine of engines) {
  console.log(`# ---- test suite on engine ${engine}, Node ${process.version} ----`);
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
    { stdio: 'inherit', env: { ...process.env, FLEETMASTER_ENGINE: engine } },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const ok = run.status === 0;
  failed ||= !ok;
  results.push(
    `# engine ${engine}: ${ok ? 'pass' : `FAIL (exit ${run.status ?? run.signal})`} in ${seconds} s`,
  );
}
console.log(`# ---- Node ${process.version} ----`);
for (const line of results) console.log(line);
process.exit(failed || engines.length === 0 ? 1 : 0);

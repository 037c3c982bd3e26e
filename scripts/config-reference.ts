// `npm run docs:config`: rewrites README's configuration reference from the CLI's field tables (a test checks it).
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../src/cli/config.ts';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const start = '<!-- config-reference:start -->';
const end = '<!-- config-reference:end -->';
const from = readme.indexOf(start);
const to = readme.indexOf(end);
if (from < 0 || to < from) throw new Error(`README.md needs the markers ${start} and ${end}`);
writeFileSync(
  file,
  `${readme.slice(0, from + start.length)}\n\n${configReference().trim()}\n\n${readme.slice(to)}`,
);
console.log('README.md: configuration reference regenerated');

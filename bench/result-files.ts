import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes one benchmark run as `<name>-<timestamp>.json` and `.md` into `dir` (git-ignored bench/results by
 * default); returns their paths. Every benchmark writes its results this way.
 */
export async function writeResultFiles(
  dir: string,
  name: string,
  startedAt: string,
  result: unknown,
  markdown: string,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `${name}-${startedAt.replace(/[:.]/g, '-')}`);
  await writeFile(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  await writeFile(`${base}.md`, markdown);
  return [`${base}.json`, `${base}.md`];
}

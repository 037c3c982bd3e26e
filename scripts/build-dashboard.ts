// `npm run build:dashboard` (part of `npm run build`, run by `npm start` and `npm test` first): bundles the page
// (src/dashboard/, uPlot included) with esbuild into dist/dashboard/: index.html and assets/ whose names carry a
// hash of their content. The new build is written beside the old one and swapped in whole.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const kRoot = fileURLToPath(new URL('..', import.meta.url));

export interface DashboardBuild {
  dir: string;
  js: string;
  css: string;
  bytes: number;
}

/** Builds the page into `outDir` (default dist/dashboard of this repository). */
export async function buildDashboard(outDir = join(kRoot, 'dist', 'dashboard')): Promise<DashboardBuild> {
  const staging = `${outDir}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const assets = join(staging, 'assets');
  mkdirSync(assets, { recursive: true });
  try {
    const result = await build({
      entryPoints: { app: join(kRoot, 'src', 'dashboard', 'main.ts') },
      bundle: true,
      format: 'esm',
      target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
      platform: 'browser',
      minify: true,
      entryNames: '[name]-[hash]',
      outdir: assets,
      metafile: true,
      legalComments: 'eof',
      logLevel: 'warning',
    });
    const outputs = Object.keys(result.metafile.outputs);
    const js = outputs.find((f) => f.endsWith('.js'));
    const css = outputs.find((f) => f.endsWith('.css'));
    if (js === undefined || css === undefined)
      throw new Error(`esbuild wrote ${outputs.join(', ')}: no .js or .css`);
    const template = readFileSync(join(kRoot, 'src', 'dashboard', 'index.html'), 'utf8');
    const html = template.replace('{{js}}', basename(js)).replace('{{css}}', basename(css));
    if (html.includes('{{'))
      throw new Error('src/dashboard/index.html has a placeholder the build does not fill');
    writeFileSync(join(staging, 'index.html'), html);
    const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    const old = `${outDir}.old-${process.pid}`;
    try {
      renameSync(outDir, old);
    } catch {
      // no previous build
    }
    renameSync(staging, outDir);
    rmSync(old, { recursive: true, force: true });
    return { dir: outDir, js: basename(js), css: basename(css), bytes };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildDashboard();
  if (!process.argv.includes('--quiet')) {
    console.log(
      `dashboard built: ${built.dir} (${built.js}, ${built.css}; ${Math.round(built.bytes / 1024)} KiB)`,
    );
  }
}

/**
 * The page's built files (scripts/build-dashboard.ts writes them to dist/dashboard/), read into memory once when
 * the dashboard starts, with the headers they are served with. Asset names carry a hash of their content, so they
 * are cached for good; the HTML, which names them, is revalidated on every load.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  headers: Record<string, string>;
}

export interface DashboardAssets {
  html: Asset;
  /** By file name (no folders: nothing else can be asked for). */
  files: Map<string, Asset>;
}

/**
 * Scripts and styles only from this origin, no inline script or style element, no plugin, no frame, no form;
 * `data:` images for the empty favicon; `connect-src 'self'` for the event stream.
 */
export const kContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const kTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

const kCommon = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/**
 * Where the built page is: dist/dashboard from the repository's root (running from src/ under tsx), or the
 * package's dist/dashboard (running from dist/src/).
 */
export function assetDirectories(): string[] {
  return [
    fileURLToPath(new URL('../../../dist/dashboard/', import.meta.url)),
    fileURLToPath(new URL('../../../dashboard/', import.meta.url)),
  ];
}

/** The built page, or why there is none. */
export function loadDashboardAssets(directories = assetDirectories()): DashboardAssets | { missing: string } {
  const dir = directories.find((d) => existsSync(join(d, 'index.html')));
  if (dir === undefined) {
    return {
      missing: `The dashboard is not built (no index.html in ${directories.join(' or ')}): run npm run build.`,
    };
  }
  try {
    return readAssets(dir);
  } catch (err) {
    // e.g. a build swapping the folder at this moment: the master starts all the same
    return { missing: `The dashboard could not be read from ${dir}: ${(err as Error).message}` };
  }
}

function readAssets(dir: string): DashboardAssets {
  const files = new Map<string, Asset>();
  const assetDir = join(dir, 'assets');
  for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) {
    const type = kTypes[extname(name)];
    if (type === undefined) continue;
    files.set(name, {
      body: readFileSync(join(assetDir, name)),
      headers: { 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable', ...kCommon },
    });
  }
  return {
    html: {
      body: readFileSync(join(dir, 'index.html')),
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        'content-security-policy': kContentSecurityPolicy,
        'x-frame-options': 'DENY',
        ...kCommon,
      },
    },
    files,
  };
}

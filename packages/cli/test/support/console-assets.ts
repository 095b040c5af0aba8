import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));

/** The console page is built by the package's build; build it here when a test run comes first. */
export async function ensureConsoleBuilt(): Promise<void> {
  if (existsSync(path.join(packageDir, 'dist', 'console', 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(packageDir, 'console', 'vite.config.ts') });
}

// Builds the console page into dist/console, where `woodwork dev --console` serves it from: every
// script and style bundled, so the page needs nothing from the internet.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  logLevel: 'warn',
  build: { outDir: fileURLToPath(new URL('../dist/console', import.meta.url)), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2_000 },
});

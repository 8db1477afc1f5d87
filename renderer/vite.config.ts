import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './', // loaded from file:// in Electron
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    // Monaco is one large chunk, loaded only when a screen shows code; a desktop app reads it from disk.
    chunkSizeWarningLimit: 4096,
  },
});

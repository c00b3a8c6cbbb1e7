import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

// One build produces every runtime: the Electron main process, the CLI and the
// benchmark all share the plain-Node core, so they are entries of the same bundle.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      // zod is bundled, not loaded from node_modules: as ~95 separate ES modules it cost every
      // CLI start ~50 ms of CPU (0.16 -> 0.11 s for `apollo sessions`), and the tests start it hundreds of times.
      externalizeDeps: { exclude: ['zod'] },
      rolldownOptions: {
        input: {
          index: resolve('electron/main/index.ts'),
          cli: resolve('electron/cli/index.ts'),
          bench: resolve('electron/bench/index.ts'),
          // Found beside the entry that exports (cast-runner.ts): converts recordings under its own heap limit.
          'cast-worker': resolve('electron/core/dataset/cast-worker.ts'),
          // Found beside the entry that runs (built-entry.ts): parses terminal output for the keyframes off the host's thread.
          'keyframe-worker': resolve('electron/core/pty/keyframe-worker.ts'),
          // Found beside the entry that runs (token-warmer.ts): counts recorded texts' tokens off the host's thread.
          'token-count-worker': resolve('electron/core/dataset/token-count-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rolldownOptions: {
        input: { index: resolve('electron/preload/index.ts') },
        // Sandboxed preloads cannot be ES modules.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'renderer',
    plugins: [react()],
    build: {
      outDir: resolve('out/renderer'),
      rolldownOptions: {
        input: { index: resolve('renderer/index.html') },
        // Vite's own names, written out because the hosts rely on them: a file under assets/
        // named with its content hash is served as immutable (electron/web/static-files.ts).
        output: { entryFileNames: 'assets/[name]-[hash].js', chunkFileNames: 'assets/[name]-[hash].js', assetFileNames: 'assets/[name]-[hash][extname]' },
      },
    },
  },
});

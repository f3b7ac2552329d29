/**
 * Vite build of the web UI: React, one JS bundle plus CSS into packages/web/dist, which
 * `parloir server` (browser mode) and `parloir connect --ui` (native mode) serve as static files.
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      // `vite dev` against a local `parloir server --insecure-http` on 8443.
      '/ws': { target: 'ws://127.0.0.1:8443', ws: true },
    },
  },
});

// Builds the UI into dist/: index.html and hashed files under /assets/, which `gabarit serve`
// embeds. Nothing is fetched from elsewhere at run time; the built page carries a strict
// Content-Security-Policy (only this origin; photos previewed from blob: URLs).
import { defineConfig, type Plugin } from 'vite';

// Node's process, without pulling in @types/node for one variable.
declare const process: { env: Record<string, string | undefined> };

const csp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

// Only in the build: Vite's dev server injects inline styles and scripts.
const contentSecurityPolicy: Plugin = {
  name: 'gabarit-csp',
  apply: 'build',
  transformIndexHtml: () => [
    { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: csp }, injectTo: 'head-prepend' },
  ],
};

export default defineConfig({
  base: '/',
  plugins: [contentSecurityPolicy],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    // Small files stay files: nothing is inlined as a data: URL.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a `gabarit serve` on port 8080 (GABARIT_API overrides).
    proxy: { '/api': process.env.GABARIT_API ?? 'http://127.0.0.1:8080' },
  },
});

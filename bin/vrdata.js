#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('vrdata: dist/ is missing. Run `npm run build` (or `npm ci`) in the project folder first.\n');
  process.exit(1);
}
await import(main.href);

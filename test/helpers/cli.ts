/** Spawning the real `vrdata` CLI (src/cli/main.ts through tsx), always with a timeout so nothing hangs. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from it, but spawned children should not depend on that). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `vrdata <args>`; kills it (SIGKILL) after `timeoutMs` and reports timedOut instead of hanging the suite. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<CliResult> {
  return runNode([...(options.nodeArgs ?? []), MAIN, ...args], options);
}

/** Runs `node --import tsx <args>` from the repository root, with a timeout. */
export function runNode(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, VRDATA_DEBUG: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** True when text looks like a JS stack trace ("    at fn (file:line:col)"). */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m.test(text);
}

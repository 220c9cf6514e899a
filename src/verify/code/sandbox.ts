/**
 * Runs untrusted Python in a sandbox: bubblewrap with new user, PID, network, IPC and UTS
 * namespaces, only /usr (read-only) and a size-capped private tmpfs visible, an empty environment,
 * and rlimits (CPU time, address space, processes, file size, open files) set by prlimit inside the
 * sandbox where no capability can lift them. A wall-clock timer kills the whole sandbox; when bwrap's
 * child (PID 1 of the namespace) dies, the kernel kills every process left in it.
 * Without bwrap this module refuses to run code unless `unsafe` is set (then: prlimit + a process group).
 */

import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { VrdataError } from '../../util/errors.js';

/** Limits for one run; defaults in DEFAULT_SANDBOX. */
export interface SandboxOptions {
  /** Wall-clock limit per run. */
  timeoutMs?: number;
  /** CPU seconds (RLIMIT_CPU). */
  cpuSeconds?: number;
  /** Address space in bytes (RLIMIT_AS). */
  memoryBytes?: number;
  /** Processes/threads (RLIMIT_NPROC). */
  processes?: number;
  /** Largest file the program may write (RLIMIT_FSIZE), and the size of its tmpfs. */
  fileBytes?: number;
  tmpfsBytes?: number;
  /** stdout/stderr kept; a program printing more is killed and its output marked truncated. */
  maxOutputBytes?: number;
  /** Run without bubblewrap (prlimit and a process group only). Must be asked for explicitly. */
  unsafe?: boolean;
  /** Interpreter inside the sandbox. */
  python?: string;
}

export const DEFAULT_SANDBOX: Required<SandboxOptions> = {
  timeoutMs: 6000,
  cpuSeconds: 5,
  memoryBytes: 1 << 30,
  processes: 32,
  fileBytes: 16 << 20,
  tmpfsBytes: 64 << 20,
  maxOutputBytes: 8 << 20,
  unsafe: false,
  python: 'python3',
};

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  outputTruncated: boolean;
  ms: number;
  /** 'bwrap' or 'unsafe'. */
  isolation: string;
}

/**
 * As root, sandboxes run as nobody (65534): a user namespace created by root maps its users onto root,
 * and the kernel exempts root from RLIMIT_NPROC, so a fork bomb would only be stopped by the timer.
 */
function dropTo(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
}

let probed: { ok: boolean; why: string; python: string } | null = null;

/** Whether bubblewrap works here (probed once: a real sandboxed `python3 -c pass`). */
export function sandboxAvailable(python = 'python3'): { ok: boolean; why: string } {
  if (probed && probed.python === python) return probed;
  const args = [...bwrapArgs('/nonexistent-vrdata', DEFAULT_SANDBOX, false), python, '-c', 'pass'];
  const r = spawnSync('bwrap', args, { timeout: 10_000, encoding: 'utf8', cwd: '/', ...dropTo() });
  let why = 'ok';
  if (r.error) why = `bwrap not runnable (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install it with: apt-get install -y bubblewrap`;
  else if (r.status !== 0) why = `bwrap failed (exit ${r.status}): ${(r.stderr ?? '').trim().slice(0, 300)}`;
  probed = { ok: why === 'ok', why, python };
  return probed;
}

function bwrapArgs(codeDir: string, o: Required<SandboxOptions>, withCode = true): string[] {
  const a = [
    '--unshare-all', // user, ipc, pid, net, uts, cgroup namespaces: no network, own PID space
    '--unshare-user', // (run as nobody when we are root: see dropTo)
    '--uid', '65534',
    '--gid', '65534',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--setenv', 'PATH', '/usr/bin:/bin',
    '--setenv', 'HOME', '/tmp',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'PYTHONDONTWRITEBYTECODE', '1',
    '--setenv', 'PYTHONIOENCODING', 'utf-8',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/sbin', '/sbin',
    '--size', String(o.tmpfsBytes),
    '--tmpfs', '/tmp',
    '--proc', '/proc',
    '--dev', '/dev',
    '--chdir', '/tmp',
  ];
  for (const f of ['/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/alternatives']) if (existsSync(f)) a.push('--ro-bind', f, f);
  if (withCode) a.push('--ro-bind', codeDir, '/code');
  a.push('--remount-ro', '/'); // the sandbox's own root stays read-only; only /tmp is writable
  a.push(
    '/usr/bin/prlimit',
    `--cpu=${o.cpuSeconds}`,
    `--as=${o.memoryBytes}`,
    `--nproc=${o.processes}`,
    `--fsize=${o.fileBytes}`,
    '--nofile=64',
    '--core=0',
    '--',
  );
  return a;
}

/** Runs `python main.py` (the given source) with stdin; resolves when it exits or is killed. */
export function runPython(source: string, stdin: string, options: SandboxOptions = {}): Promise<RunResult> {
  const o: Required<SandboxOptions> = { ...DEFAULT_SANDBOX, ...options };
  if (!o.unsafe) {
    const av = sandboxAvailable(o.python);
    if (!av.ok) throw new VrdataError('verify', `no working sandbox for code: ${av.why}; or pass unsafe (--unsafe-no-sandbox) to run model code unisolated`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vrdata-code-'));
  writeFileSync(join(dir, 'main.py'), source, { mode: 0o644 });
  chmodSync(dir, 0o755); // readable by the unprivileged sandbox user
  let cmd: string;
  let args: string[];
  if (o.unsafe) {
    cmd = '/usr/bin/prlimit';
    args = [`--cpu=${o.cpuSeconds}`, `--as=${o.memoryBytes}`, `--fsize=${o.fileBytes}`, '--nofile=64', '--core=0', '--', o.python, join(dir, 'main.py')];
  } else {
    cmd = 'bwrap';
    // --info-fd 3 reports the sandbox's PID 1; killing it tears down the whole PID namespace at once.
    args = ['--info-fd', '3', ...bwrapArgs(dir, o), o.python, '/code/main.py'];
  }
  const t0 = performance.now();
  return new Promise<RunResult>((resolve) => {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', o.unsafe ? 'ignore' : 'pipe'],
      cwd: o.unsafe ? dir : '/',
      ...dropTo(),
      env: o.unsafe ? { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' } : {},
    });
    let nsInit: number | null = null;
    let killRequested = false;
    const info = child.stdio[3];
    if (info && 'on' in info) {
      let text = '';
      info.on('data', (b: Buffer) => {
        text += b.toString('utf8');
        const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
        if (m && nsInit === null) {
          nsInit = Number(m[1]);
          if (killRequested) killAll();
        }
      });
      info.on('error', () => {
        /* bwrap closed it */
      });
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    let timedOut = false;
    let done = false;
    let fallback: NodeJS.Timeout | null = null;
    let hardStop: NodeJS.Timeout | null = null;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    // Kill the namespace's PID 1 first, so bwrap itself reaps it and exits; the process group
    // (bwrap included) is killed only if that has not ended the run within a second.
    // Killing bwrap first would orphan the namespace's PID 1 (a zombie under the host's init), so
    // the group kill is only a fallback when the namespace's PID 1 is unknown or did not end the run.
    const killAll = (): void => {
      killRequested = true;
      if (nsInit !== null) {
        try {
          process.kill(nsInit, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      fallback ??= setTimeout(killGroup, o.unsafe ? 0 : 3000);
      // Whatever happens to the pipes, the run resolves: 6 s after the kill it ends without them.
      hardStop ??= setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(null, 'SIGKILL');
      }, 6000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killAll();
    }, o.timeoutMs);
    const take = (buf: Buffer, into: Buffer[], isOut: boolean): void => {
      const have = isOut ? outBytes : errBytes;
      if (have + buf.length > o.maxOutputBytes) {
        truncated = true;
        into.push(buf.subarray(0, Math.max(0, o.maxOutputBytes - have)));
        killAll();
      } else into.push(buf);
      if (isOut) outBytes += buf.length;
      else errBytes += buf.length;
    };
    child.stdout!.on('data', (b: Buffer) => take(b, out, true));
    child.stderr!.on('data', (b: Buffer) => take(b, err, false));
    child.stdin!.on('error', () => {
      /* the program may exit without reading its input */
    });
    child.stdin!.end(stdin);
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (fallback) clearTimeout(fallback);
      if (hardStop) clearTimeout(hardStop);
      // Unsafe mode has no PID namespace: sweep the process group for children left behind.
      if (o.unsafe) killGroup();
      rmSync(dir, { recursive: true, force: true });
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode: code,
        signal,
        timedOut,
        outputTruncated: truncated,
        ms: performance.now() - t0,
        isolation: o.unsafe ? 'unsafe' : 'bwrap',
      });
    };
    child.on('error', (e) => {
      err.push(Buffer.from(String(e.message)));
      finish(null, null);
    });
    child.on('close', finish);
  });
}

// Hostile programs run in the real sandbox (bubblewrap; `apt-get install -y bubblewrap`): each gets a
// verdict within its limit, the host is unaffected and no process is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { runPython, sandboxAvailable } from '../../src/verify/code/sandbox.js';
import { checkCode } from '../../src/verify/code/index.js';

const TIMEOUT = 2000;
const GRACE = 4000; // the wall-clock kill plus scheduling delay on 2 loaded cores

/**
 * Sandbox processes still alive. Exited ones waiting to be reaped (state Z) are left out: bwrap's
 * own helper is reparented to the host's init when it exits, and this container's init reaps late.
 */
function sandboxProcesses(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => /\/code\/main\.py|vrdata-hostile|\bbwrap\b|prlimit/.test(l) && !/\bps -eo\b/.test(l))
    .filter((l) => !/^\s*\d+\s+Z/.test(l));
}

const HOSTILE: Record<string, { src: string; expect: (r: Awaited<ReturnType<typeof runPython>>) => boolean }> = {
  'fork bomb': { src: 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass', expect: (r) => r.timedOut || r.exitCode !== 0 },
  'process limit': {
    src: 'import os, time\nn = 0\ntry:\n    while n < 10000:\n        if os.fork() == 0:\n            time.sleep(3); os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n)',
    expect: (r) => Number(r.stdout.trim()) < 64,
  },
  'infinite loop': { src: 'while True: pass', expect: (r) => r.timedOut || r.signal !== null },
  'sleep forever': { src: 'import time\ntime.sleep(1000)', expect: (r) => r.timedOut },
  '10 GB allocation': { src: 'x = bytearray(10 * 1024**3)\nprint("allocated")', expect: (r) => !r.stdout.includes('allocated') && /MemoryError/.test(r.stderr) },
  'disk fill': { src: 'f = open("/tmp/fill", "wb")\nwhile True: f.write(b"x" * 1048576)', expect: (r) => r.exitCode !== 0 && /File too large|No space/.test(r.stderr) },
  'many files': { src: 'i = 0\nwhile True:\n    open(f"/tmp/f{i}", "wb").write(b"x" * 1048576); i += 1', expect: (r) => r.exitCode !== 0 },
  'network connect': { src: 'import socket\nsocket.create_connection(("1.1.1.1", 80), timeout=2)\nprint("connected")', expect: (r) => !r.stdout.includes('connected') && r.exitCode !== 0 },
  'localhost connect': { src: 'import socket\nsocket.create_connection(("127.0.0.1", 22), timeout=2)\nprint("connected")', expect: (r) => !r.stdout.includes('connected') },
  'read /etc/shadow': { src: 'print(open("/etc/shadow").read())', expect: (r) => r.exitCode !== 0 && r.stdout === '' },
  "parent's environment": {
    src: 'import os\nprint(sorted(os.environ))\nfor p in os.listdir("/proc"):\n    try: print(open(f"/proc/{p}/environ").read())\n    except Exception: pass',
    expect: (r) => !r.stdout.includes('VRDATA_SECRET'),
  },
  'write outside tmp': { src: 'for p in ["/usr/x", "/x", "/code/x", "/etc/x"]:\n    try: open(p, "w").write("x"); print("wrote", p)\n    except OSError: pass', expect: (r) => !r.stdout.includes('wrote') },
  'kill the parent': { src: 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\nprint("alive")', expect: () => true },
  'kill everything': { src: 'import os, signal\nfor p in range(2, 100000):\n    try: os.kill(p, signal.SIGKILL)\n    except Exception: pass\nprint("done")', expect: () => true },
  'daemon left behind': {
    src: 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        open("/tmp/vrdata-hostile", "w")\n        time.sleep(600)\n    os._exit(0)\nprint("parent exits")',
    expect: (r) => r.stdout.includes('parent exits'),
  },
  'print 1 GB': { src: 'import sys\nchunk = "x" * (1 << 20)\nfor _ in range(1024): sys.stdout.write(chunk)', expect: (r) => r.outputTruncated },
  'stderr flood': { src: 'import sys\nwhile True: sys.stderr.write("y" * 65536)', expect: (r) => r.outputTruncated || r.timedOut },
  'threads bomb': { src: 'import threading, time\nts = []\nwhile True:\n    t = threading.Thread(target=time.sleep, args=(100,)); t.start(); ts.append(t)', expect: (r) => r.exitCode !== 0 || r.timedOut },
  'exec a shell': { src: 'import os\nos.execv("/bin/sh", ["sh", "-c", "cat /etc/shadow; echo shell"])', expect: (r) => !/root:/.test(r.stdout) },
  'new user namespace': { src: 'import ctypes\nr = ctypes.CDLL(None, use_errno=True).unshare(0x10000000)\nprint("unshared" if r == 0 else "refused")', expect: (r) => !r.stdout.includes('unshared') },
};

test('sandbox is available here (bubblewrap installed and working)', () => {
  const av = sandboxAvailable();
  assert.equal(av.ok, true, av.why);
});

test(`${Object.keys(HOSTILE).length} hostile programs are contained`, { timeout: 240_000 }, async () => {
  process.env.VRDATA_SECRET = 'do-not-leak';
  const before = readdirSync(tmpdir()).filter((f) => f.startsWith('vrdata-code-')).length;
  const failures: string[] = [];
  for (const [name, h] of Object.entries(HOSTILE)) {
    const t0 = performance.now();
    const r = await runPython(h.src, '', { timeoutMs: TIMEOUT, cpuSeconds: 2, maxOutputBytes: 1 << 20 });
    const ms = performance.now() - t0;
    if (ms > TIMEOUT + GRACE) failures.push(`${name}: took ${Math.round(ms)} ms`);
    if (!h.expect(r)) failures.push(`${name}: ${JSON.stringify({ ...r, stdout: r.stdout.slice(0, 200), stderr: r.stderr.slice(-200) })}`);
    // The host is unaffected: a normal program still runs right after.
    const ok = await runPython('print(6 * 7)', '', { timeoutMs: 10_000 });
    if (ok.stdout.trim() !== '42') failures.push(`${name}: the next program failed: ${ok.stderr.slice(-200)}`);
  }
  delete process.env.VRDATA_SECRET;
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(failures, []);
  assert.deepEqual(sandboxProcesses(), [], 'no sandboxed process left');
  assert.equal(existsSync('/tmp/vrdata-hostile'), false, 'the daemon wrote nothing to the host');
  assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('vrdata-code-')).length, before, 'temp dirs removed');
});

test('tests of one problem run in parallel up to the limit and a wrong program stops it', async () => {
  const tests = { kind: 'stdin' as const, cases: Array.from({ length: 6 }, (_, i) => ({ input: `${i}\n`, output: `${i * 2}\n` })) };
  const good = await checkCode('```python\nprint(int(input()) * 2)\n```', tests, { parallel: 3 });
  assert.equal(good.correct, true, good.reason);
  assert.equal(good.passed, 6);
  const bad = await checkCode('```python\nn = int(input())\nprint(n * 2 if n < 3 else n)\n```', tests, { parallel: 1 });
  assert.equal(bad.correct, false);
  assert.match(bad.reason, /wrong answer/);
  const slow = await checkCode('```python\nwhile True: pass\n```', tests, { parallel: 2, sandbox: { timeoutMs: 1000 }, problemTimeoutMs: 1500 });
  assert.equal(slow.correct, false);
  assert.match(slow.reason, /time limit/);
});

test('without bwrap the checker refuses unless unsafe is given', async () => {
  const r = execFileSync(process.execPath, ['--import', 'tsx', '-e', `
    process.env.PATH = '/nonexistent';
    const { runPython } = await import('./src/verify/code/sandbox.ts');
    try { await runPython('print(1)', '', { python: '/usr/bin/python3' }); console.log('ran'); } catch (e) { console.log('refused:', e.message); }
  `], { encoding: 'utf8', env: { ...process.env } });
  assert.match(r, /refused: verify: no working sandbox/);
});

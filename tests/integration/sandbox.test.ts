import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../preload/contract.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import type { ExecutionRequest } from '../../main/sandbox/types.js';
import { backendCases } from '../helpers/sandbox.js';

const backends = await backendCases();

/** Every process on the host whose command line contains `marker` (the host sees into every sandbox). */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

const ok: ExecutionRequest = { program: 'def add(a, b):\n    return a + b\n', tests: ['assert add(1, 2) == 3', 'assert add(-1, 1) == 0'] };

describe.each(backends)('$name sandbox', ({ name, available, reason, open }) => {
  describe.skipIf(!available)(available ? 'on this machine' : `not here: ${reason ?? ''}`, () => {
  let pool: SandboxPool; // one worker: every program below runs on the same one, one after another
  const run = (r: ExecutionRequest): Promise<ExecutionResult> => pool.run(r);

  beforeAll(async () => {
    pool = await SandboxPool.create(await open(), { size: 1, limits: { timeoutMs: 3000, memoryMb: 256, processes: 32 } });
    await pool.run(ok);
    baseline = processesWith(pool.tag).length; // bwrap: bwrap + runner; docker: runner
    expect(baseline).toBeGreaterThan(0);
  }, 60_000);
  afterAll(async () => {
    await pool.dispose();
  });

  /** The next program on the same worker runs correctly, and only the worker's own processes remain. */
  let baseline = 0;
  async function expectWorkerHealthy(): Promise<void> {
    const next = await run(ok);
    expect(next.status, JSON.stringify(next)).toBe('passed');
    expect(processesWith(pool.tag)).toHaveLength(baseline);
  }

  describe('results', () => {
    it('reports pass, and per-test outcomes with expected and actual', async () => {
      const pass = await run(ok);
      expect(pass).toMatchObject({ status: 'passed', errorKind: null, backend: name, testResults: [{ outcome: 'passed' }, { outcome: 'passed' }] });
      const r = await run({ program: 'def add(a, b):\n    return a + b + (a == 3)\n', tests: ['assert add(1, 2) == 3', 'assert add(3, 4) == 7', 'assert add("x", 1) == 2'] });
      expect(r.status).toBe('failed');
      expect(r.errorKind).toBe('assertion_failure');
      expect(r.testResults).toEqual([
        { index: 0, outcome: 'passed' },
        { index: 1, outcome: 'assertion_failed', expected: '7', actual: '8' },
        { index: 2, outcome: 'error', message: expect.stringMatching(/^TypeError: can only concatenate str/) },
      ]);
      expect(r.durationMs).toBeGreaterThan(0);
    });

    it('labels expected and actual by which side calls the program', async () => {
      const r = await run({ program: 'def f():\n    return [1, 2]\n', tests: ['assert [2, 1] == f()'] });
      expect(r.testResults[0]).toMatchObject({ outcome: 'assertion_failed', expected: '[2, 1]', actual: '[1, 2]' });
    });

    it('classifies syntax errors and runtime errors, with a traceback of the program only', async () => {
      const syntax = await run({ program: 'def f(:\n    pass', tests: ['assert f() == 1'] });
      expect(syntax).toMatchObject({ status: 'failed', errorKind: 'syntax_error', exceptionType: 'SyntaxError', testResults: [{ outcome: 'not_run' }] });
      const runtime = await run({ program: 'def f(xs):\n    return xs[10]\n', tests: ['assert f([1]) == 1'] });
      expect(runtime).toMatchObject({ status: 'failed', errorKind: 'runtime_error', testResults: [{ outcome: 'error', message: expect.stringMatching(/^IndexError/) }] });
      expect(runtime.traceback).toMatch(/File "<program>", line 2, in f/);
      expect(runtime.traceback).toMatch(/File "<test 0>"/);
      expect(runtime.traceback).not.toMatch(/runner|<string>/);
      const atImport = await run({ program: 'import no_such_module_here\n', tests: ['assert True'] });
      expect(atImport).toMatchObject({ errorKind: 'runtime_error', exceptionType: 'ModuleNotFoundError' });
    });

    it('runs setup code after the program and before the tests (MBPP 367)', async () => {
      const r = await run({
        program: 'class Node:\n    def __init__(self, v):\n        self.v = v\n        self.left = None\n',
        setupCode: 'root = Node(3)\nroot.left = Node(4)',
        tests: ['assert root.left.v == 4'],
      });
      expect(r.status).toBe('passed');
    });

    it('checks inside HumanEval-style check() functions too, with expected and actual', async () => {
      const r = await run({
        program: 'def inc(x):\n    return x + 2\n',
        setupCode: 'def check(candidate):\n    assert candidate(1) == 2\n',
        tests: ['check(inc)'],
      });
      expect(r).toMatchObject({ errorKind: 'assertion_failure', testResults: [{ outcome: 'assertion_failed', expected: '2', actual: '3' }] });
      expect(r.traceback).toMatch(/File "<setup>", line 2, in check/);
    });

    it('captures stdout and stderr, capped', async () => {
      const r = await run({ program: 'import sys\nprint("hello")\nprint("x" * 100000, file=sys.stderr)\n', tests: ['assert True'], limits: { captureBytes: 1000 } });
      expect(r.status).toBe('passed');
      expect(r.stdout).toBe('hello\n');
      expect(r.stderr).toHaveLength(1000);
      expect(r.outputTruncated).toBe(true);
    });

    it('treats Counter, defaultdict and namedtuple results as equal to the literals they match', async () => {
      const r = await run({
        program: 'from collections import Counter, defaultdict, namedtuple\nP = namedtuple("P", "x y")\n' +
          'def c(): return Counter("aab")\ndef d():\n    r = defaultdict(list)\n    r["k"].append(1)\n    return r\ndef p(): return P(1, 2)\n',
        tests: ['assert c() == {"a": 2, "b": 1}', 'assert d() == {"k": [1]}', 'assert p() == (1, 2)', 'assert c() != {"a": 1}', 'assert 3 == 3.0'],
      });
      expect(r.status, JSON.stringify(r.testResults)).toBe('passed');
    });
  });

  describe('adversarial programs: each fails with the right kind, and the worker carries on', () => {
    it('infinite loop → timeout (in the program, and inside a test)', async () => {
      const top = await run({ program: 'while True:\n    pass\n', tests: ['assert True'], limits: { timeoutMs: 800 } });
      expect(top).toMatchObject({ status: 'failed', errorKind: 'timeout', testResults: [{ outcome: 'not_run' }] });
      const inTest = await run({ program: 'def f():\n    while True:\n        pass\n', tests: ['assert 1 == 1', 'assert f() == 1', 'assert 2 == 2'], limits: { timeoutMs: 800 } });
      expect(inTest).toMatchObject({ errorKind: 'timeout', testResults: [{ outcome: 'passed' }, { outcome: 'timeout' }, { outcome: 'not_run' }] });
      await expectWorkerHealthy();
    });

    it('fork bomb → stopped, nothing left behind', async () => {
      const r = await run({
        program: `import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n`,
        tests: ['assert True'],
        limits: { timeoutMs: 1500 },
      });
      expect(r.status).toBe('failed');
      expect(['timeout', 'runtime_error']).toContain(r.errorKind);
      await expectWorkerHealthy();
    });

    it('memory bomb → memory_limit', async () => {
      const r = await run({ program: 'blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n', tests: ['assert True'] });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'memory_limit' });
      await expectWorkerHealthy();
    });

    it('1 GB of stdout → output_limit, capture capped', async () => {
      const started = Date.now();
      const r = await run({ program: 'import sys\nchunk = "x" * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n', tests: ['assert True'] });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'output_limit', outputTruncated: true });
      expect(r.stdout.length).toBeLessThanOrEqual(16 << 10);
      expect(Date.now() - started).toBeLessThan(3000);
      await expectWorkerHealthy();
    });

    it('writing outside the work dir → fails, nothing written on the host', async () => {
      const tag = randomBytes(4).toString('hex');
      const inHome = path.join(os.homedir(), `.ilf-escape-${tag}`);
      const inTmp = path.join(os.tmpdir(), `ilf-escape-${tag}`); // the sandbox has its own empty /tmp
      const r = await run({
        program: `def attempt(path):\n    try:\n        with open(path, "w") as f:\n            f.write("pwned")\n        return True\n    except OSError:\n        return False\n`,
        tests: [`assert attempt(${JSON.stringify(inHome)}) == True`, 'assert attempt("/usr/bin/pwned") == True', 'assert attempt("/pwned") == True',
          `attempt(${JSON.stringify(inTmp)})`, 'assert attempt("scratch.txt") == True'],
      });
      expect(r.status).toBe('failed');
      expect(r.testResults.map((t) => t.outcome)).toEqual(['assertion_failed', 'assertion_failed', 'assertion_failed', 'passed', 'passed']);
      expect(fs.existsSync(inHome)).toBe(false);
      expect(fs.existsSync(inTmp)).toBe(false);
      await expectWorkerHealthy();
    });

    it("reading a secret planted in the host user's home → not readable", async () => {
      const secret = randomBytes(16).toString('hex');
      const file = path.join(os.homedir(), `.ilf-secret-${secret.slice(0, 8)}`);
      fs.writeFileSync(file, secret, { mode: 0o644 });
      try {
        const r = await run({
          program: `def leak():\n    with open(${JSON.stringify(file)}) as f:\n        return f.read()\nprint(leak.__name__)\n`,
          tests: [`assert leak() == ${JSON.stringify(secret)}`],
        });
        expect(r.status).toBe('failed');
        expect(r.testResults[0]?.outcome).toBe('error');
        expect(r.testResults[0]?.message).toMatch(/FileNotFoundError|PermissionError/);
        expect(JSON.stringify(r)).not.toContain(secret);
      } finally {
        fs.rmSync(file, { force: true });
      }
      await expectWorkerHealthy();
    });

    it('connecting to a listener on 127.0.0.1 → refused, the listener sees nothing', async () => {
      let connections = 0;
      const server = net.createServer((s) => {
        connections += 1;
        s.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as net.AddressInfo;
      try {
        const r = await run({
          program: `import socket\ndef call():\n    s = socket.create_connection(("127.0.0.1", ${port}), timeout=1)\n    s.sendall(b"hello")\n    return True\n`,
          tests: ['assert call() == True'],
        });
        expect(r).toMatchObject({ status: 'failed', errorKind: 'runtime_error' });
        expect(r.testResults[0]?.message).toMatch(/ConnectionRefusedError|OSError|Network is unreachable/);
        expect(connections).toBe(0);
      } finally {
        server.close();
      }
      await expectWorkerHealthy();
    });

    it('a background process left running → killed when the program ends', async () => {
      const marker = `bgproc${randomBytes(4).toString('hex')}`;
      const r = await run({
        program: `import os, subprocess, sys\nsubprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)  # ${marker}"])\n` +
          `if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)  # ${marker}"])\n    os._exit(0)\n` +
          'def f():\n    return 1\n',
        tests: ['assert f() == 2'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'assertion_failure' });
      expect(processesWith(marker)).toEqual([]);
      await expectWorkerHealthy();
    });

    it('killing its parent → the runner survives, the program still fails', async () => {
      const r = await run({
        program: 'import os, signal\nfor target in (os.getppid(), 1):\n    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\ndef f():\n    return 1\n',
        tests: ['assert f() == 2'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'assertion_failure' });
      await expectWorkerHealthy();
    });

    it('os._exit(0) or sys.exit(0) before the assertions → runtime_error, not a pass', async () => {
      const hard = await run({ program: 'import os\nos._exit(0)\n', tests: ['assert False'] });
      expect(hard).toMatchObject({ status: 'failed', errorKind: 'runtime_error', testResults: [{ outcome: 'not_run' }] });
      expect(hard.exceptionMessage).toMatch(/exited \(code 0\) before its tests finished/);
      const soft = await run({ program: 'import sys\nsys.exit(0)\n', tests: ['assert False'] });
      expect(soft).toMatchObject({ status: 'failed', errorKind: 'runtime_error', exceptionType: 'SystemExit' });
      const inTest = await run({ program: 'import os\ndef f():\n    os._exit(0)\n', tests: ['assert f() == 1'] });
      expect(inTest).toMatchObject({ status: 'failed', errorKind: 'runtime_error', testResults: [{ outcome: 'error' }] });
      await expectWorkerHealthy();
    });

    it('an object whose __eq__ always returns True → assertion_failure', async () => {
      const r = await run({
        program: 'class Liar:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n    def __bool__(self):\n        return True\n' +
          'class LyingInt(int):\n    def __eq__(self, other):\n        return True\n' +
          'def f():\n    return Liar()\ndef g():\n    return [Liar()]\ndef h():\n    return LyingInt(5)\n',
        tests: ['assert f() == 42', 'assert g() == [1]', 'assert h() == 6', 'assert f()', 'assert {"k": f()} == {"k": 3}'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'assertion_failure' });
      expect(r.testResults.map((t) => t.outcome)).toEqual(Array(5).fill('assertion_failed'));
      expect(r.testResults[2]).toMatchObject({ expected: '6', actual: '5' });
      await expectWorkerHealthy();
    });
  });

  describe('the pool', () => {
    it('streams results as they finish: a slow program does not hold up quick ones', async () => {
      const two = await SandboxPool.create(await open(), { size: 2 });
      try {
        const slow: ExecutionRequest = { program: 'import time\ntime.sleep(1.5)\n', tests: ['assert True'] };
        const quick = Array.from({ length: 6 }, (_, i) => ({ program: `def f():\n    return ${i}\n`, tests: [`assert f() == ${i}`] }));
        const order: number[] = [];
        for await (const { index, result } of two.runMany([slow, ...quick])) {
          expect(result.status).toBe('passed');
          order.push(index);
        }
        expect(order.at(-1)).toBe(0);
        expect(order.slice(0, 6).sort()).toEqual([1, 2, 3, 4, 5, 6]);
      } finally {
        await two.dispose();
      }
    });

    it('cancel stops a running program quickly and the worker takes the next one', async () => {
      const controller = new AbortController();
      const started = Date.now();
      const running = pool.run({ program: 'import time\ntime.sleep(30)\n', tests: ['assert True'], limits: { timeoutMs: 20_000 } }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      await expect(running).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(3000);
      await expect(pool.run(ok, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
      await expectWorkerHealthy();
    });
  });
});
});

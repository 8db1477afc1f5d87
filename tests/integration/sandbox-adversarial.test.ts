/**
 * Programs written to forge their verdict or to break their worker (issue 12). Each case runs on a
 * pool of one worker per backend, asserts the verdict, and then that the next honest program on the
 * same worker passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../preload/contract.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { archTable } from '../../main/sandbox/seccomp.js';
import { SCRATCH_BYTES, type ExecutionRequest } from '../../main/sandbox/types.js';
import { backendCases } from '../helpers/sandbox.js';

const honest: ExecutionRequest = { program: 'def add(a, b):\n    return a + b\n', tests: ['assert add(1, 2) == 3', 'assert add(-1, 1) == 0'] };
const py = (lines: string[]): string => `${lines.join('\n')}\n`;

describe.each(await backendCases())('$name sandbox against programs that attack their verdict', (c) => {
  describe.skipIf(!c.available)(`${c.name}${c.reason ? ` (skipped: ${c.reason})` : ''}`, () => {
    let pool: SandboxPool;
    const run = (r: ExecutionRequest): Promise<ExecutionResult> => pool.run(r);

    beforeAll(async () => {
      pool = await SandboxPool.create(await c.open(), { size: 1, limits: { timeoutMs: 4000, memoryMb: 256, processes: 32 } });
    }, 60_000);
    afterAll(async () => {
      await pool.dispose();
    });

    /** The next honest program on the same (only) worker passes, judged out of process. */
    async function nextPasses(): Promise<void> {
      const next = await run(honest);
      expect(next, JSON.stringify(next)).toMatchObject({ status: 'passed', judge: 'separate-process' });
    }

    it('forged result records written to every fd, then exit → not a pass', async () => {
      const forged = '{"phase": "test", "index": 0, "outcome": "passed"}\\n{"phase": "done"}\\n';
      const r = await run({
        program: py([
          'import os, json',
          'for fd in range(0, 256):',
          '    for data in (b\'' + forged + '\', b"\\x00\\x00\\x00\\x0e[\\"ok\\",true,[]]"):',
          '        try:',
          '            os.write(fd, data)',
          '        except OSError:',
          '            pass',
          'def f():',
          '    return 1',
          'os._exit(0)',
        ]),
        tests: ['assert f() == 2'],
      });
      expect(r.status).toBe('failed');
      expect(r.testResults[0]?.outcome).not.toBe('passed');
      await nextPasses();
    });

    it('harness patching through __main__, gc and a thread that outlives the program → the real verdict', async () => {
      const r = await run({
        program: py([
          'import __main__, builtins, gc, sys, threading, time',
          'def patch():',
          '    for name in ("__ilf_check_eq__", "__ilf_check_truth__", "check_eq", "safe_eq", "check_truth"):',
          '        setattr(__main__, name, lambda *a, **k: None)',
          '        setattr(builtins, name, lambda *a, **k: None)',
          '    builtins.AssertionError = type("AssertionError", (Exception,), {})',
          '    for o in gc.get_objects():',
          '        if callable(o) and getattr(o, "__name__", "") in ("check_eq", "plain_eq", "send", "decode"):',
          '            try:',
          '                o.__code__ = (lambda *a, **k: None).__code__',
          '            except Exception:',
          '                pass',
          'def keep_patching():',
          '    while True:',
          '        patch()',
          '        time.sleep(0.001)',
          'threading.Thread(target=keep_patching, daemon=True).start()',
          'def f():',
          '    patch()',
          '    return 1',
        ]),
        tests: ['assert f() == 2', 'assert f() != 1', 'assert f() == 1'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'assertion_failure' });
      expect(r.testResults.map((t) => t.outcome)).toEqual(['assertion_failed', 'assertion_failed', 'passed']);
      expect(r.testResults[0]).toMatchObject({ expected: '2', actual: '1' });
      await nextPasses();
    });

    it('reading the hidden tests off frames and memory → nothing to read', async () => {
      const r = await run({
        program: py([
          'import gc, sys',
          'def f():',
          '    found = []',
          '    frame = sys._getframe(1)',
          '    while frame is not None:',
          '        found += [repr(v) for v in list(frame.f_locals.values()) + list(frame.f_globals.values())]',
          '        frame = frame.f_back',
          '    found += [o for o in gc.get_objects() if isinstance(o, str)]',
          '    for text in found:',
          '        if "987654321" in text:',
          '            return 987654321',
          '    return 0',
        ]),
        tests: ['assert f() == 987654321'],
      });
      expect(r).toMatchObject({ status: 'failed', testResults: [{ outcome: 'assertion_failed', expected: '987654321', actual: '0' }] });
      await nextPasses();
    });

    it('an object that lies to abs(a - b) < eps, >, in and truth tests → not_plain_data', async () => {
      const r = await run({
        program: py([
          'class Liar:',
          '    def __eq__(self, o): return True',
          '    def __ne__(self, o): return False',
          '    def __lt__(self, o): return True',
          '    def __gt__(self, o): return True',
          '    def __sub__(self, o): return self',
          '    def __abs__(self): return 0',
          '    def __contains__(self, o): return True',
          '    def __bool__(self): return True',
          '    def __hash__(self): return 0',
          'def f():',
          '    return Liar()',
        ]),
        tests: ['assert abs(f() - 1.5) < 1e-6', 'assert f() > 3', 'assert 3 in f()', 'try:\n    assert f() < 0\nexcept Exception:\n    pass'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'not_plain_data' });
      expect(r.testResults.map((t) => t.outcome)).toEqual(['error', 'error', 'error', 'error']);
      expect(r.testResults[0]?.message).toMatch(/^NotPlainData: .*not plain data/);
      await nextPasses();
    });

    it("classes that claim __module__ = 'builtins' → judged by their plain value", async () => {
      const r = await run({
        program: py([
          'class int(int):',
          '    __module__ = "builtins"',
          '    def __eq__(self, o): return True',
          'class list:',
          '    __module__ = "builtins"',
          '    def __eq__(self, o): return True',
          '    def __bool__(self): return True',
          'def f():',
          '    return int(3)',
          'def g():',
          '    return list()',
        ]),
        tests: ['assert f() == 7', 'assert g() == [1, 2]', 'assert g()'],
      });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'assertion_failure' });
      expect(r.testResults.map((t) => t.outcome)).toEqual(['assertion_failed', 'assertion_failed', 'assertion_failed']);
      expect(r.testResults[0]).toMatchObject({ expected: '7', actual: '3' });
      await nextPasses();
    });

    it('/proc/PID/mem, pidfd_getfd, ptrace and process_vm_readv on every other process → all refused', async () => {
      const r = await run({
        program: py([
          'import ctypes, os',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'def reached():',
          '    me, got = os.getpid(), []',
          '    for entry in os.listdir("/proc"):',
          '        if not entry.isdigit() or int(entry) == me:',
          '            continue',
          '        pid = int(entry)',
          '        for path in ("/proc/%d/mem" % pid, "/proc/%d/environ" % pid, "/proc/%d/fd/0" % pid, "/proc/%d/fd/3" % pid):',
          '            try:',
          '                open(path, "rb").close()',
          '                got.append(path)',
          '            except OSError:',
          '                pass',
          '        try:',
          '            pidfd = os.pidfd_open(pid)',
          '            for fd in range(0, 8):',
          '                if libc.syscall(438, pidfd, fd, 0) >= 0:',  // pidfd_getfd
          '                    got.append("pidfd_getfd %d %d" % (pid, fd))',
          '        except OSError:',
          '            pass',
          '        if libc.ptrace(16, pid, 0, 0) == 0:',  // PTRACE_ATTACH
          '            got.append("ptrace %d" % pid)',
          '        buf = ctypes.create_string_buffer(8)',
          '        local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 8)',
          '        remote = (ctypes.c_void_p * 2)(0x400000, 8)',
          '        if libc.process_vm_readv(pid, local, 1, remote, 1, 0) > 0:',
          '            got.append("process_vm_readv %d" % pid)',
          '    return got',
        ]),
        tests: ['assert reached() == []'],
      });
      expect(r, JSON.stringify(r.testResults)).toMatchObject({ status: 'passed' });
      await nextPasses();
    });

    it('namespace, mount, keyring, bpf and perf calls → refused by the seccomp filter (EPERM)', async () => {
      const nr = archTable().numbers;
      const r = await run({
        program: py([
          'import ctypes',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'def errnos():',
          '    calls = {',
          '        "unshare(CLONE_NEWUSER)": lambda: libc.unshare(0x10000000),',
          '        "unshare(CLONE_NEWNS)": lambda: libc.unshare(0x20000),',
          '        "setns": lambda: libc.setns(0, 0),',
          '        "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),',
          `        "keyctl": lambda: libc.syscall(${nr.keyctl}, 0, 0, 0, 0, 0),`,
          `        "add_key": lambda: libc.syscall(${nr.add_key}, b"user", b"k", b"v", 1, -3),`,
          `        "bpf": lambda: libc.syscall(${nr.bpf}, 0, 0, 0),`,
          `        "perf_event_open": lambda: libc.syscall(${nr.perf_event_open}, 0, 0, -1, -1, 0),`,
          '    }',
          '    out = {}',
          '    for name, call in calls.items():',
          '        ctypes.set_errno(0)',
          '        out[name] = ctypes.get_errno() if call() == -1 else 0',
          '    return out',
        ]),
        tests: ['assert set(errnos().values()) == {1}', 'assert "Seccomp:\\t2" in open("/proc/self/status").read()'],
      });
      expect(r, JSON.stringify(r.testResults)).toMatchObject({ status: 'passed' });
      await nextPasses();
    });

    it('the program runs as its own uid: it cannot signal the runner, zygote or harness, read their /proc, or write where they own', async () => {
      const r = await run({
        program: py([
          'import os, signal',
          'def ids():',
          '    return os.getuid(), os.getgid()',
          'def reach():',
          '    mine, signalled, read = os.getpid(), [], []',
          '    for entry in os.listdir("/proc"):',
          '        if not entry.isdigit() or int(entry) == mine:',
          '            continue',
          '        try:',
          '            os.kill(int(entry), 0)',
          '            signalled.append(int(entry))',
          '        except OSError:',
          '            pass',
          '        for name in ("environ", "mem", "fd/0"):',
          '            try:',
          '                open("/proc/%s/%s" % (entry, name), "rb").read(1)',
          '                read.append("%s/%s" % (entry, name))',
          '            except OSError:',
          '                pass',
          '    return signalled, read',
          'def chmod_scratch():',
          '    out = []',
          '    for root in ("/work", "/tmp", "/dev/shm"):',
          '        try:',
          '            os.chmod(root, 0o700)',
          '            out.append(root)',
          '        except OSError:',
          '            pass',
          '    return out',
        ]),
        tests: [
          // The program's ids, then the harness's own (this test code runs in the harness).
          'assert ids() == (65534, 65534)',
          'import os\nassert os.getuid() not in (0, 65534)',
          'assert reach() == ([], [])',
          'assert chmod_scratch() == []',
        ],
      });
      expect(r, JSON.stringify(r.testResults)).toMatchObject({ status: 'passed' });
      await nextPasses();
    });

    it('signals to the runner (PID 1) → its job carries on; signals to every process → a verdict, never sandbox_error', async () => {
      const toRunner = await run({
        program: py([
          'import os, signal',
          'for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGTSTP):',
          '    try:',
          '        os.kill(1, sig)',
          '    except OSError:',
          '        pass',
          'def f():',
          '    return 1',
        ]),
        tests: ['assert f() == 1'],
      });
      expect(toRunner).toMatchObject({ status: 'passed' });
      const toAll = await run({
        program: py([
          'import os, signal',
          'me = os.getpid()',
          'for entry in os.listdir("/proc"):',
          '    if entry.isdigit() and int(entry) != me:',
          '        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP, signal.SIGKILL):',
          '            try:',
          '                os.kill(int(entry), sig)',
          '            except OSError:',
          '                pass',
          'def f():',
          '    return 1',
        ]),
        tests: ['assert f() == 1'],
      });
      expect(toAll.status).not.toBe('sandbox_error');
      await nextPasses();
    });

    it('a FIFO at its stdout and stderr, and FIFOs in the work folder → the runner is not blocked', async () => {
      const started = Date.now();
      const r = await run({
        program: py([
          'import os',
          'for path in ("stdout", "stderr", "/work/stdout", "/work/stderr", "/tmp/stdout"):',
          '    try:',
          '        os.mkfifo(path)',
          '    except OSError:',
          '        pass',
          'fifo = os.open("stdout", os.O_RDWR)',
          'os.dup2(fifo, 1)',
          'os.dup2(fifo, 2)',
          'def f():',
          '    return 1',
        ]),
        tests: ['assert f() == 1'],
      });
      expect(r).toMatchObject({ status: 'passed', stdout: '', stderr: '' });
      expect(Date.now() - started).toBeLessThan(4000);
      await nextPasses();
    });

    it('chmod 000 of its work folder and of /work, and the folder swapped for a symlink → the next program still runs', async () => {
      const r = await run({
        program: py([
          'import os',
          'here = os.getcwd()',
          'os.makedirs("deep/er", exist_ok=True)',
          'open("deep/er/file", "w").close()',
          'os.chmod("deep/er", 0)',
          'os.chmod("deep", 0)',
          'os.makedirs("/tmp/locked/in", exist_ok=True)',
          'os.chmod("/tmp/locked", 0)',
          'os.chdir("/")',
          'os.rename(here, here + "-moved")',
          'os.symlink("/usr", here)',
          'for target in (here + "-moved", "/work"):',
          '    try:',
          '        os.chmod(target, 0)',
          '    except OSError:',
          '        pass',
          'def f():',
          '    return 1',
        ]),
        tests: ['assert f() == 1'],
      });
      expect(r).toMatchObject({ status: 'passed' });
      await nextPasses();
    });

    it('files left in /tmp, /dev/shm and /work → gone before the next program', async () => {
      const plant = await run({
        program: py([
          'import os',
          'for path in ("/tmp/leftover", "/dev/shm/leftover", "/work/leftover", "leftover"):',
          '    with open(path, "w") as f:',
          '        f.write("x")',
          'os.symlink("/tmp/leftover", "/tmp/leftover-link")',
          'def f():',
          '    return 1',
        ]),
        tests: ['assert f() == 1'],
      });
      expect(plant).toMatchObject({ status: 'passed' });
      const look = await run({
        program: py([
          'import os',
          'def found():',
          '    return sorted(os.path.join(d, n) for d in ("/tmp", "/dev/shm", "/work") for n in os.listdir(d)',
          '                  if not os.path.samefile(os.path.join(d, n), os.getcwd()))',
        ]),
        tests: ['assert found() == []'],
      });
      expect(look, JSON.stringify(look.testResults)).toMatchObject({ status: 'passed' });
      await nextPasses();
    });

    it('filling /work, /tmp and /dev/shm → each stops at its cap', async () => {
      const r = await run({
        program: py([
          'import os',
          'def fill(d):',
          '    total, chunk = 0, b"x" * (1 << 20)',
          '    for i in range(400):',
          '        try:',
          '            with open(os.path.join(d, "fill%d" % i), "wb") as f:',
          '                total += f.write(chunk)',
          '        except OSError:',
          '            break',
          '    return total',
        ]),
        tests: [
          `assert 0 < fill("/work") <= ${SCRATCH_BYTES.work}`,
          `assert 0 < fill("/tmp") <= ${SCRATCH_BYTES.tmp}`,
          `assert 0 < fill("/dev/shm") <= ${SCRATCH_BYTES.shm}`,
        ],
        limits: { timeoutMs: 20_000, outputBytes: 1 << 20 },
      });
      expect(r, JSON.stringify(r.testResults)).toMatchObject({ status: 'passed' });
      await nextPasses();
    }, 30_000);

    it('a flood of huge values, messages and tracebacks → every field capped', async () => {
      const r = await run({
        program: py([
          'def big():',
          '    return "x" * 2_000_000',
          'def deep():',
          '    v = []',
          '    for _ in range(5000):',
          '        v = [v]',
          '    return v',
          'def loud():',
          '    raise ValueError("y" * 1_000_000)',
        ]),
        tests: [...Array.from({ length: 10 }, () => 'assert big() == 1'), 'assert deep() == 1', 'loud()'],
        limits: { timeoutMs: 20_000 },
      });
      expect(r.status).toBe('failed');
      expect(r.testResults[0]).toMatchObject({ outcome: 'assertion_failed' });
      expect(r.testResults[0]?.actual?.length).toBeLessThanOrEqual(300);
      expect(r.testResults[10]).toMatchObject({ outcome: 'error', message: expect.stringMatching(/^NotPlainData/) });
      expect(r.testResults[11]?.message?.length).toBeLessThanOrEqual(2000);
      expect(JSON.stringify(r).length).toBeLessThan(100_000);
      await nextPasses();
    }, 30_000);

    it('memory spread over many processes → bounded, a failure, and the worker carries on', async () => {
      // Docker: the container's memory cgroup bounds the sum. bubblewrap without a cgroup: the
      // per-process limit × the process cap (both asserted by the verdict being a failure here).
      const r = await run({
        program: py([
          'import os, time',
          'kids = []',
          'for i in range(24):',
          '    pid = os.fork()',
          '    if pid == 0:',
          '        try:',
          '            hog = bytearray(200 << 20)',
          '            for j in range(0, len(hog), 4096):',
          '                hog[j] = 1',
          '            time.sleep(30)',
          '        finally:',
          '            os._exit(0)',
          '    kids.append(pid)',
          'time.sleep(30)',
        ]),
        tests: ['assert True'],
        limits: { timeoutMs: 6000 },
      });
      expect(r.status).toBe('failed');
      expect(['timeout', 'memory_limit', 'runtime_error']).toContain(r.errorKind);
      await nextPasses();
    }, 30_000);
  });
});

# ILF Studio sandbox runner. Runs INSIDE the sandbox (bubblewrap or a Docker container), as PID 1
# of its own PID namespace, and never sees the host.
#
# Protocol: one JSON object per line on stdin (a job), one JSON object per line on stdout (its
# result). While a job runs, a line {"cancel": true} on stdin stops it. The first line written is
# {"ready": ...}.
#
# Each job runs in a child forked from this warm interpreter (common modules already imported), in
# its own fresh work dir, with rlimits on memory, CPU, file size, processes and open files; its
# stdout/stderr go to capped files. The child reports progress test by test on a private pipe, so
# a hang, a crash or an early exit still tells us which tests ran. After every job, everything
# else in the namespace is killed: nothing a program starts outlives it.
#
# Trust: the tests run in the same process as the program (they call its functions), so a program
# written to forge its own results could; what this guards against is everything else (escapes,
# resource abuse, exiting early, objects whose __eq__ lies).

import ast
import builtins
import json
import os
import resource
import select
import shutil
import signal
import sys
import time
import traceback

# Imported once here so every forked job finds them in sys.modules (copy-on-write, no import cost).
import bisect, collections, copy, functools, heapq, itertools, math, operator, re, string  # noqa: E401,F401
import array, cmath, datetime, decimal, fractions, hashlib, random, statistics, typing  # noqa: E401,F401

REPR_CAP = 300
MESSAGE_CAP = 2000
TRACEBACK_CAP = 4000
WORK_ROOT = os.environ.get("ILF_WORK_ROOT", "/work")
NUMERIC = (int, float, complex, bool)
OWN_FILES = ("<program>", "<setup>")


def cap(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_repr(value):
    try:
        return cap(repr(value), REPR_CAP)
    except BaseException:  # a program's __repr__ may raise anything
        return "<unrepresentable %s>" % type(value).__name__


SAFE_KEYS = (int, float, complex, bool, str, bytes, type(None))
TRUSTED_NUMBERS = (decimal.Decimal, fractions.Fraction)


def safe_key(value, depth=0):
    """Exactly a builtin hashable value, so hashing and == never run program code."""
    t = type(value)
    if t in SAFE_KEYS:
        return True
    if t in (tuple, frozenset) and depth < 20:
        return all(safe_key(v, depth + 1) for v in t.__iter__(value))
    return False


def safe_eq(actual, expected, depth=0):
    """`actual == expected` as Python would answer it for honest values, without ever calling an
    __eq__ (or __len__, __iter__, __hash__) that the program defined. Builtin containers and numbers
    are compared through their builtin base type, so Counter, defaultdict and namedtuple results
    still equal dict and tuple literals."""
    if depth > 50:
        return False
    te = type(expected)
    if expected is None:
        return actual is None
    if te in NUMERIC:
        if type(actual) in TRUSTED_NUMBERS:
            return actual == expected
        for base in (bool, int, float, complex):
            if isinstance(actual, base) and base is not bool:
                result = base.__eq__(actual, expected)
                if result is NotImplemented:
                    result = te.__eq__(expected, actual)
                return result is True
        return False
    if te in (str, bytes):
        return isinstance(actual, te) and te.__eq__(actual, expected) is True
    if te in (list, tuple):
        if not isinstance(actual, te) or te.__len__(actual) != len(expected):
            return False
        return all(safe_eq(te.__getitem__(actual, i), e, depth + 1) for i, e in enumerate(expected))
    if te is dict:
        if not isinstance(actual, dict) or dict.__len__(actual) != len(expected):
            return False
        keys = list(dict.keys(actual))
        if not all(safe_key(k) for k in keys):
            return False
        return all(dict.__contains__(actual, k) and safe_eq(dict.__getitem__(actual, k), v, depth + 1)
                   for k, v in expected.items())
    if te in (set, frozenset):
        if not isinstance(actual, (set, frozenset)):
            return False
        items = list(set.__iter__(actual) if isinstance(actual, set) else frozenset.__iter__(actual))
        return all(safe_key(x) for x in items) and len(items) == len(expected) and all(x in expected for x in items)
    if type(actual) is te:
        return bool(actual == expected)  # the test chose this type; its own == decides
    try:
        return te.__eq__(expected, actual) is True  # the expected side only, never a reflected call
    except BaseException:
        return False


def is_call(node):
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


class ComparisonFailed(AssertionError):
    def __init__(self, actual, expected):
        AssertionError.__init__(self, "expected %s, got %s" % (expected, actual))
        self.actual = actual
        self.expected = expected


def check_eq(left, right, is_eq, swap):
    actual, expected = (right, left) if swap else (left, right)
    if safe_eq(actual, expected) != is_eq:
        raise ComparisonFailed(safe_repr(actual), safe_repr(expected) if is_eq else "anything but " + safe_repr(expected))


def check_truth(value):
    # A program-defined type decides its own truth; do not let it vouch for itself.
    if not (type(value).__module__ == "builtins" and bool(value)):
        raise ComparisonFailed(safe_repr(value), "a true value")


class SafeAsserts(ast.NodeTransformer):
    """Rewrites the trusted code's `assert A == B` and `assert X` to checks that report expected vs
    actual and cannot be fooled by the program's __eq__ or __bool__."""

    def visit_Assert(self, node):
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
            left, right = test.left, test.comparators[0]
            # The side that calls something is what the program returned; otherwise left is actual.
            swap = is_call(right) and not is_call(left)
            call = ast.Call(ast.Name("__ilf_check_eq__", ast.Load()),
                            [left, right, ast.Constant(isinstance(test.ops[0], ast.Eq)), ast.Constant(swap)], [])
        elif isinstance(test, ast.Compare) or isinstance(test, ast.BoolOp) or isinstance(test, ast.UnaryOp):
            return node  # builtin results (bool) already; keep Python's own semantics
        else:
            call = ast.Call(ast.Name("__ilf_check_truth__", ast.Load()), [test], [])
        return ast.copy_location(ast.Expr(call), node)


def compile_trusted(source, filename):
    tree = SafeAsserts().visit(ast.parse(source, filename, "exec"))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def trimmed_traceback(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename in OWN_FILES or f.filename.startswith("<test ")]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return cap("Traceback (most recent call last):\n" + "".join(lines), TRACEBACK_CAP)


def describe(exc):
    return {"exceptionType": type(exc).__name__, "exceptionMessage": cap(str(exc), MESSAGE_CAP),
            "traceback": trimmed_traceback(exc)}


class Job:
    """The code that runs in the forked child."""

    def __init__(self, job, report):
        self.job = job
        self.report = report
        self.pid = os.getpid()

    def send(self, message):
        # A program may fork; only the job process itself may report.
        if os.getpid() != self.pid:
            os._exit(0)
        data = (json.dumps(message, ensure_ascii=True) + "\n").encode()
        while data:
            written = os.write(self.report, data)
            data = data[written:]

    def run(self):
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        try:
            program = compile(self.job["program"], "<program>", "exec")
        except (SyntaxError, ValueError) as exc:
            self.send({"phase": "program", "kind": "syntax_error", **describe(exc)})
            return
        if not self.stage("program", program, namespace):
            return
        namespace["__ilf_check_eq__"] = check_eq
        namespace["__ilf_check_truth__"] = check_truth
        setup = self.job.get("setup") or ""
        if setup.strip():
            try:
                setup_code = compile_trusted(setup, "<setup>")
            except SyntaxError as exc:
                self.send({"phase": "setup", "kind": "sandbox_error", **describe(exc)})
                return
            if not self.stage("setup", setup_code, namespace):
                return
        for index, source in enumerate(self.job["tests"]):
            self.send({"phase": "test-start", "index": index})
            self.send({"phase": "test", "index": index, **self.run_test(index, source, namespace)})
        self.send({"phase": "done"})

    def stage(self, name, code, namespace):
        try:
            exec(code, namespace)
            return True
        except SystemExit as exc:
            self.send({"phase": name, "kind": "runtime_error", "exceptionType": "SystemExit",
                       "exceptionMessage": "the %s called sys.exit(%s) before the tests ran" % (name, safe_repr(exc.code)),
                       "traceback": trimmed_traceback(exc)})
        except MemoryError as exc:
            self.send({"phase": name, "kind": "memory_limit", **describe(exc)})
        except RecursionError as exc:
            self.send({"phase": name, "kind": "runtime_error", **describe(exc)})
        except BaseException as exc:
            self.send({"phase": name, "kind": "runtime_error", **describe(exc)})
        return False

    def run_test(self, index, source, namespace):
        try:
            code = compile_trusted(source, "<test %d>" % index)
        except SyntaxError as exc:
            return {"outcome": "error", "kind": "runtime_error", "message": "the test itself does not parse: %s" % exc}
        try:
            exec(code, namespace)
            return {"outcome": "passed"}
        except ComparisonFailed as exc:
            return {"outcome": "assertion_failed", "actual": exc.actual, "expected": exc.expected,
                    "traceback": trimmed_traceback(exc)}
        except AssertionError as exc:
            return {"outcome": "assertion_failed", "message": cap(str(exc), MESSAGE_CAP) or None,
                    "traceback": trimmed_traceback(exc)}
        except SystemExit as exc:
            return {"outcome": "error", "kind": "runtime_error", "exceptionType": "SystemExit",
                    "exceptionMessage": "sys.exit(%s) during a test" % safe_repr(exc.code), "traceback": trimmed_traceback(exc)}
        except MemoryError as exc:
            return {"outcome": "error", "kind": "memory_limit", **describe(exc)}
        except BaseException as exc:
            return {"outcome": "error", "kind": "runtime_error", **describe(exc)}


def set_limits(limits):
    mem = int(limits["memoryMb"]) * 1024 * 1024
    cpu = max(1, int(limits["cpuSeconds"]))
    out = int(limits["outputBytes"])
    for which, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, out),
                         (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))
    nproc = limits.get("processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))


REPORT_FD = 3


def child(job, workdir, report_w, out_path, err_path):
    try:
        os.setsid()
        # The report pipe becomes fd 3 and every other inherited fd (the runner's channel) is closed.
        os.dup2(report_w, REPORT_FD)
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.closerange(REPORT_FD + 1, 65536)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1 << 16, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the output cap fail instead of killing
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.chdir(workdir)
        set_limits(job["limits"])
        Job(job, REPORT_FD).run()
    except BaseException:
        pass
    finally:
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        os._exit(0)


def kill_others():
    """SIGKILL every process in this PID namespace but us, and reap them."""
    for _ in range(100):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reaped_all = False
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                reaped_all = True
                break
            if pid == 0:
                break
        if reaped_all:
            return
        time.sleep(0.001)


def read_capped(path, limit):
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            data = f.read(limit)
        return data.decode("utf-8", "replace"), size
    except OSError:
        return "", 0


def parse_lines(buffer, messages):
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        if line.strip() and len(messages) < 10000:
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    return rest


def is_cancel(line):
    try:
        return json.loads(line).get("cancel") is True
    except (ValueError, AttributeError):
        return False


def run_job(job, control, queued):
    limits = job["limits"]
    workdir = os.path.join(WORK_ROOT, "job")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir, mode=0o700)
    out_path = os.path.join(WORK_ROOT, "stdout")
    err_path = os.path.join(WORK_ROOT, "stderr")
    report_r, report_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(job, workdir, report_w, out_path, err_path)
    os.close(report_w)
    os.set_blocking(report_r, False)
    # Readable when the job process exits, even if processes it forked still hold the report pipe.
    exited = os.pidfd_open(pid)

    deadline = started + limits["timeoutMs"] / 1000.0
    messages, buffer, status, cancelled, timed_out = [], b"", None, False, False
    watch = [control.fileno(), report_r, exited]
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        readable, _, _ = select.select(watch, [], [], remaining)
        if control.fileno() in readable:
            line = control.readline()
            if not line or is_cancel(line):
                cancelled = True
                break
            queued.append(line)  # the next job, sent early
        if report_r in readable:
            try:
                chunk = os.read(report_r, 1 << 16)
            except BlockingIOError:
                chunk = None
            if chunk:
                buffer = parse_lines(buffer + chunk, messages)
            elif chunk == b"":
                watch.remove(report_r)
        if exited in readable:
            _, status = os.waitpid(pid, 0)
            break
    duration_ms = (time.monotonic() - started) * 1000.0
    kill_others()  # also closes every remaining write end of the report pipe
    os.close(exited)
    while True:
        try:
            chunk = os.read(report_r, 1 << 16)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        buffer += chunk
    os.close(report_r)
    parse_lines(buffer + b"\n", messages)

    capture = int(limits["captureBytes"])
    stdout, out_size = read_capped(out_path, capture)
    stderr, err_size = read_capped(err_path, capture)
    shutil.rmtree(workdir, ignore_errors=True)
    for path in (out_path, err_path):
        try:
            os.unlink(path)
        except OSError:
            pass
    output_limit = max(out_size, err_size) >= int(limits["outputBytes"])
    result = summarize(job, messages, status, timed_out, cancelled, output_limit)
    result.update({"stdout": stdout, "stderr": stderr, "outputTruncated": out_size > capture or err_size > capture,
                   "durationMs": duration_ms})
    return result


def summarize(job, messages, status, timed_out, cancelled, output_limit):
    n = len(job["tests"])
    tests = [{"index": i, "outcome": "not_run"} for i in range(n)]
    first_failure = None
    running = None
    done = False
    for m in messages:
        phase = m.get("phase")
        if phase in ("program", "setup"):
            first_failure = first_failure or m
        elif phase == "test-start" and isinstance(m.get("index"), int) and 0 <= m["index"] < n:
            running = m["index"]
        elif phase == "test" and isinstance(m.get("index"), int) and 0 <= m["index"] < n:
            i = m["index"]
            entry = {"index": i, "outcome": m.get("outcome", "error")}
            for key in ("expected", "actual", "message"):
                if m.get(key) is not None:
                    entry[key] = m[key]
            if entry["outcome"] == "error" and m.get("exceptionType"):
                entry["message"] = "%s: %s" % (m["exceptionType"], m.get("exceptionMessage", ""))
            tests[i] = entry
            running = None
            if entry["outcome"] != "passed" and first_failure is None:
                first_failure = dict(m, kind=m.get("kind") or "assertion_failure")
        elif phase == "done":
            done = True

    result = {"testResults": tests}
    if cancelled:
        return dict(result, status="sandbox_error", errorKind="sandbox_error", exceptionMessage="cancelled")
    kind = None
    if output_limit:
        kind = "output_limit"
    elif timed_out:
        kind = "timeout"
    elif first_failure is not None:
        kind = first_failure.get("kind")
    elif not done:
        # Exited without finishing: os._exit, a signal, or resources ran out.
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        if sig in (signal.SIGXCPU,):
            kind = "timeout"
        elif sig == signal.SIGKILL:
            kind = "memory_limit"
        else:
            kind = "runtime_error"
            code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
            result["exceptionMessage"] = (
                "the program ended the process (signal %s) before its tests finished" % sig if sig
                else "the program exited (code %s) before its tests finished" % code)
    if timed_out or (kind in ("timeout", "memory_limit", "output_limit", "runtime_error") and not done):
        if running is not None and tests[running]["outcome"] == "not_run":
            tests[running] = {"index": running, "outcome": "timeout" if kind == "timeout" else "error"}
    if kind is None:
        if all(t["outcome"] == "passed" for t in tests):
            return dict(result, status="passed", errorKind=None)
        kind = "assertion_failure"
    if first_failure is not None:
        for key in ("exceptionType", "exceptionMessage", "traceback"):
            if first_failure.get(key) is not None:
                result.setdefault(key, first_failure[key])
    if kind == "timeout":
        result.setdefault("exceptionMessage", "timed out after %d ms" % job["limits"]["timeoutMs"])
    if kind == "output_limit":
        result["exceptionMessage"] = "wrote more than %d bytes of output" % job["limits"]["outputBytes"]
    return dict(result, status="failed", errorKind=kind)


def main():
    if os.getpid() != 1:
        # kill_others() signals every process we can see: only safe as PID 1 of our own namespace.
        sys.stderr.write("ilf runner: refusing to run outside its own PID namespace (pid %d)\n" % os.getpid())
        sys.exit(3)
    # Our own channel, on fds the jobs never get (they replace 0/1/2 before running anything).
    control = os.fdopen(os.dup(0), "r", buffering=1)
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.makedirs(WORK_ROOT, exist_ok=True)
    channel.write(json.dumps({"ready": True, "python": sys.version.split()[0], "pid": os.getpid()}) + "\n")
    queued = []
    while True:
        line = queued.pop(0) if queued else control.readline()
        if not line:
            return
        try:
            job = json.loads(line)
        except ValueError:
            continue
        if not isinstance(job, dict) or "program" not in job:
            continue
        try:
            result = run_job(job, control, queued)
        except BaseException as exc:  # the runner's own failure is the sandbox's fault
            kill_others()
            result = {"status": "sandbox_error", "errorKind": "sandbox_error", "testResults": [],
                      "exceptionType": type(exc).__name__, "exceptionMessage": str(exc), "stdout": "", "stderr": "",
                      "outputTruncated": False, "durationMs": 0}
        result["id"] = job.get("id")
        channel.write(json.dumps(result, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()

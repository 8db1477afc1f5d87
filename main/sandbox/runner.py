# ILF Studio sandbox runner. Runs INSIDE the sandbox (bubblewrap or a Docker container), as PID 1
# of its own PID namespace, and never sees the host.
#
# Protocol: one JSON object per line on stdin (a job), one JSON object per line on stdout (its
# result). While a job runs, a line {"cancel": true} on stdin stops it. The first line written is
# {"ready": ...}.
#
# Three kinds of process, so that a program cannot forge its own verdict:
# - the runner (this process, PID 1): talks to the host, times jobs, kills everything after each.
# - the zygote: a fresh interpreter exec'd at start (so it never held a job's tests, not even in
#   freed memory) that forks each program process on request. Where the program has a uid of its
#   own, the next job's process is forked while the current job runs and waits as the zygote's
#   uid (out of the running program's reach); at its job's first request it switches to the
#   program's uid and empties /work, /tmp and /dev/shm.
# - the harness, forked from the runner and long-lived (replaced after a job that did not end
#   cleanly, and every HARNESS_JOBS jobs), so a job costs one fork: it holds the tests and runs
#   each job's in a fresh namespace. The program's names are proxies there: calling one sends (name, args) over a socketpair to the program
#   process, which calls the real function and answers with tagged JSON that the harness rebuilds
#   as builtin values only (None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
#   frozenset, with size and depth caps). So no program object ever reaches a comparison, and the
#   program never sees the tests, the harness's frames or the report pipe. What is not plain data
#   (class instances, generators) stays in the program process as an opaque handle: the harness may
#   pass it back, read/set its attributes, call it or iterate it remotely; comparing or
#   truth-testing it is a `not_plain_data` failure. A test that hands the program something that
#   cannot cross (a lambda) makes the job fall back to the old in-process mode, and the result
#   says `judge: in-process`.
#
# Hardening: runner, zygote and harness are not dumpable (no /proc/PID/mem, no pidfd_getfd from a
# program); the host's seccomp filter denies ptrace and friends; catchable signals are ignored by
# the runner; the host channel lives on close-on-exec fds that every forked child closes first.

import ast
import builtins
import ctypes
import fcntl
import gc
import json
import os
import resource
import secrets
import select
import signal
import socket
import stat
import struct
import sys
import time
import traceback

# Imported once so every forked process finds them in sys.modules (copy-on-write, no import cost).
import bisect, collections, copy, functools, heapq, itertools, math, operator, re, string  # noqa: E401,F401
import array, cmath, datetime, decimal, fractions, hashlib, random, statistics, typing  # noqa: E401,F401

REPR_CAP = 300
MESSAGE_CAP = 2000
TRACEBACK_CAP = 4000
FRAME_CAP = 8 << 20          # one message from the program process
NODE_CAP = 200_000           # values in one message
DEPTH_CAP = 100              # nesting of one value
REPORT_CAP = 4 << 20         # bytes the harness may report per job
REPORT_MESSAGES = 10_000
ZYGOTE_TIMEOUT = 15.0
HARNESS_JOBS = 500           # a long-lived harness is replaced after this many jobs
WORK_ROOT = os.environ.get("ILF_WORK_ROOT", "/work")
# Emptied before every program. Only what the backend names (its own tmpfs mounts): a runner
# started anywhere else must never wipe a real /tmp.
SCRATCH = tuple(p for p in os.environ.get("ILF_SCRATCH", "").split(":") if p.startswith("/") and p != "/")
OWN_FILES = ("<program>", "<setup>")
NUMERIC = (int, float, complex, bool)


def env_uid(name):
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() and os.geteuid() == 0 else None


# Docker, and bubblewrap started by root (which maps three ids into the worker's user namespace),
# start the runner as 0 with only CAP_SETUID/SETGID/KILL: the program and the harness each drop to
# their own uid. bubblewrap started by a user maps one id only: everything runs as it.
PROGRAM_UID = env_uid("ILF_PROGRAM_UID")
HARNESS_UID = env_uid("ILF_HARNESS_UID")


def drop_to(uid):
    if uid is None:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def not_dumpable():
    # PR_SET_DUMPABLE = 4. Not dumpable: /proc/PID/mem, process_vm_*, pidfd_getfd and ptrace of this
    # process need CAP_SYS_PTRACE, which nothing in the sandbox has.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


CATCHABLE = [s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                         signal.SIGALRM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE, signal.SIGXFSZ,
                         signal.SIGVTALRM, signal.SIGPROF, signal.SIGWINCH, signal.SIGURG, signal.SIGCONT)]


def ignore_signals():
    for s in CATCHABLE:
        if s not in (signal.SIGCONT, signal.SIGURG, signal.SIGWINCH):
            signal.signal(s, signal.SIG_IGN)


def default_signals():
    for s in CATCHABLE:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def cap(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_repr(value):
    try:
        return cap(repr(value), REPR_CAP)
    except BaseException:  # a program's __repr__ may raise anything
        return "<unrepresentable %s>" % type(value).__name__


def trimmed_traceback(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename in OWN_FILES or f.filename.startswith("<test ")]
    remote = getattr(exc, "__ilf_remote_tb__", None) or []
    lines = traceback.format_list(frames) + list(remote) + traceback.format_exception_only(type(exc), exc)
    return cap("Traceback (most recent call last):\n" + "".join(lines), TRACEBACK_CAP)


def describe(exc):
    return {"exceptionType": type(exc).__name__, "exceptionMessage": cap(str(exc), MESSAGE_CAP),
            "traceback": trimmed_traceback(exc)}


def set_limits(limits, extra_processes=0):
    mem = int(limits["memoryMb"]) * 1024 * 1024
    cpu = max(1, int(limits["cpuSeconds"]))
    out = int(limits["outputBytes"])
    for which, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, out),
                         (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))
    nproc = limits.get("processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc) + extra_processes, int(nproc) + extra_processes))


# ---------------------------------------------------------------------------------------------
# Framing and the value codec. Every JSON array on the wire is tagged, so a bare list never
# appears; JSON objects never appear at all.


def send_frame(sock, message):
    data = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv_exact(sock, n):
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# Builtin types cross by name (a test may pass `int` to remove_datatype); nothing else of type `type`.
PLAIN_TYPES = {t.__name__: t for t in (int, float, complex, bool, str, bytes, bytearray, list, tuple, dict, set, frozenset,
                                       type(None), object, range)}


class TooBig(Exception):
    pass


class Encoder:
    """Turns a value into tagged JSON. `handle` decides what happens to anything else."""

    def __init__(self, handle):
        self.nodes = 0
        self.handle = handle

    def enc(self, v, depth=0):
        self.nodes += 1
        if self.nodes > NODE_CAP or depth > DEPTH_CAP:
            raise TooBig("more than %d values or deeper than %d" % (NODE_CAP, DEPTH_CAP))
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            return v if v.bit_length() < 10_000 else ["I", format(v, "x")]
        d = depth + 1
        if t is list:
            return ["L"] + [self.enc(x, d) for x in v]
        if t is tuple:
            return ["T"] + [self.enc(x, d) for x in v]
        if t is dict:
            out = ["D"]
            for k, x in v.items():
                out.append(self.enc(k, d))
                out.append(self.enc(x, d))
            return out
        if t is set:
            return ["S"] + [self.enc(x, d) for x in v]
        if t is frozenset:
            return ["F"] + [self.enc(x, d) for x in v]
        if t is bytes:
            return ["B", v.decode("latin-1")]
        if t is bytearray:
            return ["A", bytes(v).decode("latin-1")]
        if t is complex:
            return ["C", v.real, v.imag]
        if t is range:
            return ["R", v.start, v.stop, v.step]
        if t is type and PLAIN_TYPES.get(v.__name__) is v:
            return ["Y", v.__name__]
        # Subclasses of builtins (Counter, defaultdict, OrderedDict, namedtuple, IntEnum, str
        # subclasses) cross as their builtin base, read through the base's own methods.
        if isinstance(v, bool):
            return bool(int.__int__(v))
        if isinstance(v, int):
            return self.enc(int.__int__(v), depth)
        if isinstance(v, float):
            return float.__float__(v)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, dict):
            out = ["D"]
            for k, x in dict.items(v):
                out.append(self.enc(k, d))
                out.append(self.enc(x, d))
            return out
        if isinstance(v, list):
            return ["L"] + [self.enc(x, d) for x in list.__iter__(v)]
        if isinstance(v, tuple):
            return ["T"] + [self.enc(x, d) for x in tuple.__iter__(v)]
        if isinstance(v, frozenset):
            return ["F"] + [self.enc(x, d) for x in frozenset.__iter__(v)]
        if isinstance(v, set):
            return ["S"] + [self.enc(x, d) for x in set.__iter__(v)]
        if isinstance(v, bytes):
            return ["B", bytes.__bytes__(v).decode("latin-1")] if hasattr(bytes, "__bytes__") else ["B", bytes(v).decode("latin-1")]
        if isinstance(v, complex):
            return ["C", complex.__complex__(v).real, complex.__complex__(v).imag]
        if isinstance(v, decimal.Decimal):
            return ["N", decimal.Decimal.__str__(v)]
        if isinstance(v, fractions.Fraction):
            return ["Q", self.enc(v.numerator, d), self.enc(v.denominator, d)]
        return self.handle(v)


# ---------------------------------------------------------------------------------------------
# The program process: runs the program, answers the harness's requests. Everything here is
# untrusted once the program has run: whatever it sends back is only data to the harness.


def program_main(sock):
    handles = {}
    namespace = {"__name__": "__main__", "__builtins__": builtins}

    def to_handle(v):
        hid = len(handles) + 1
        handles[hid] = v
        return ["H", hid, cap(type(v).__name__, 80)]

    def dec(x):
        if type(x) is list:
            tag, rest = x[0], x[1:]
            if tag == "L":
                return [dec(e) for e in rest]
            if tag == "T":
                return tuple(dec(e) for e in rest)
            if tag == "D":
                return {dec(rest[i]): dec(rest[i + 1]) for i in range(0, len(rest), 2)}
            if tag == "S":
                return {dec(e) for e in rest}
            if tag == "F":
                return frozenset(dec(e) for e in rest)
            if tag == "B":
                return rest[0].encode("latin-1")
            if tag == "A":
                return bytearray(rest[0].encode("latin-1"))
            if tag == "C":
                return complex(rest[0], rest[1])
            if tag == "R":
                return range(rest[0], rest[1], rest[2])
            if tag == "Y":
                return PLAIN_TYPES[rest[0]]
            if tag == "I":
                return int(rest[0], 16)
            if tag == "N":
                return decimal.Decimal(rest[0])
            if tag == "Q":
                return fractions.Fraction(dec(rest[0]), dec(rest[1]))
            if tag == "H":
                return handles[rest[0]]
            raise ValueError("bad tag")
        return x

    def enc(v):
        return Encoder(to_handle).enc(v)

    def exception_reply(exc):
        t = type(exc)
        builtin = t.__module__ == "builtins" and getattr(builtins, t.__name__, None) is t
        try:
            args = Encoder(lambda v: (_ for _ in ()).throw(TooBig())).enc(exc.args) if builtin else None
        except BaseException:
            args = None
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in OWN_FILES]
        try:
            message = cap(str(exc), MESSAGE_CAP)
        except BaseException:
            message = "<unprintable>"
        return ["E", cap(t.__name__, 200), builtin, args, message, traceback.format_list(frames)[-20:]]

    def init(source, limits, workdir, extra):
        # Still only our code: become the program's uid, empty the scratch space whatever the last
        # program left (as that uid, never following a link), then the program's own fresh work
        # folder and limits.
        drop_to(PROGRAM_UID)
        if not clean_scratch():
            return ["unclean"]
        os.mkdir(workdir, 0o700)
        os.chdir(workdir)
        set_limits(limits, extra)
        try:
            code = compile(source, "<program>", "exec")
        except (SyntaxError, ValueError) as exc:
            return ["fail", dict(kind="syntax_error", **describe(exc))]
        try:
            exec(code, namespace)
        except SystemExit as exc:
            return ["fail", {"kind": "runtime_error", "exceptionType": "SystemExit",
                             "exceptionMessage": "the program called sys.exit(%s) before the tests ran" % safe_repr(exc.code),
                             "traceback": trimmed_traceback(exc)}]
        except MemoryError as exc:
            return ["fail", dict(kind="memory_limit", **describe(exc))]
        except BaseException as exc:
            return ["fail", dict(kind="runtime_error", **describe(exc))]
        names = []
        for name, value in list(namespace.items()):
            if name.startswith("__") and name.endswith("__"):
                continue
            if type(value).__name__ == "module" and isinstance(getattr(value, "__name__", None), str):
                names.append([name, ["M", value.__name__]])
                continue
            try:
                names.append([name, Encoder(to_handle).enc(value)])
            except TooBig:
                names.append([name, to_handle(value)])
        return ["ok", names]

    def serve(request):
        op = request[0]
        if op == "init":
            return init(request[1], request[2], request[3], request[4])
        if op == "global":
            # A name the setup code defined, mirrored into the program's globals: setup code shares
            # one namespace with the program (README), so a program may read a constant it defines.
            namespace[str(request[1])] = dec(request[2])
            return ["ok", None, []]
        target = handles[request[1]]
        if op == "call":
            args = [dec(a) for a in request[2]]
            kwargs = {k: dec(v) for k, v in request[3]}
            value = target(*args, **kwargs)
            back = [[i, enc(a)] for i, a in enumerate(args) if type(a) in (list, dict, set, bytearray)]
            back += [[k, enc(a)] for k, a in kwargs.items() if type(a) in (list, dict, set, bytearray)]
            return ["ok", enc(value), back]
        if op == "getattr":
            return ["ok", enc(getattr(target, request[2])), []]
        if op == "setattr":
            setattr(target, request[2], dec(request[3]))
            return ["ok", None, []]
        if op == "getitem":
            return ["ok", enc(target[dec(request[2])]), []]
        if op == "iter":
            return ["ok", to_handle(iter(target)), []]
        if op == "next":
            return ["ok", enc(next(target)), []]
        if op == "len":
            return ["ok", len(target), []]
        raise ValueError("unknown request %r" % (op,))

    while True:
        header = recv_exact(sock, 4)
        if header is None:
            break
        request = json.loads(recv_exact(sock, struct.unpack("!I", header)[0]))
        try:
            reply = serve(request)
        except TooBig as exc:
            reply = ["big", str(exc)]
        except BaseException as exc:
            reply = exception_reply(exc)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        try:
            send_frame(sock, reply)
        except TooBig as exc:
            send_frame(sock, ["big", str(exc)])
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# The harness: trusted. Holds the tests, runs them against proxies, reports to the runner.


class NotPlainData(BaseException):
    """A program value was used as if it were data (compared, truth-tested, hashed, too large).
    A BaseException so `except Exception` in a test cannot swallow it; also flagged per test."""


class ProgramGone(BaseException):
    """The program process ended (or broke the protocol) while the harness waited for it."""


class NeedsInProcess(BaseException):
    """A test passes the program something that cannot cross processes (a lambda, a class)."""


class Channel:
    def __init__(self, sock):
        self.sock = sock
        self.broken = False
        self.violations = 0

    def request(self, message):
        if self.broken:
            self.not_plain("an earlier answer of the program broke the channel")
        try:
            send_frame(self.sock, message)
            header = recv_exact(self.sock, 4)
            if header is None:
                raise ProgramGone("the program process ended")
            size = struct.unpack("!I", header)[0]
            if size > FRAME_CAP:
                self.broken = True
                self.not_plain("the program answered with %d bytes (cap %d)" % (size, FRAME_CAP))
            data = recv_exact(self.sock, size)
            if data is None:
                raise ProgramGone("the program process ended")
        except OSError as exc:
            raise ProgramGone("the program process ended (%s)" % exc)
        try:
            reply = json.loads(data)
        except (ValueError, RecursionError):
            self.not_plain("the program answered with something that is not plain data")
        if type(reply) is not list or not reply:
            self.not_plain("the program answered out of protocol")
        return reply

    def not_plain(self, message):
        self.violations += 1
        raise NotPlainData(message)


CHANNEL = None
EXCEPTION_CLASSES = {}


def remote_exception(reply):
    """A program's exception as one of ours: the same builtin type where it is one."""
    _, name, builtin, args, message, frames = (reply + [None] * 6)[:6]
    name = name if type(name) is str else "Exception"
    cls = getattr(builtins, name, None) if builtin is True else None
    exc = None
    if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in (KeyboardInterrupt, GeneratorExit):
        try:
            plain = decode(args) if args is not None else (message,)
            exc = cls(*plain) if type(plain) is tuple else cls(message)
        except BaseException:
            try:
                exc = cls(message)
            except BaseException:
                exc = None
    if exc is None:
        cls = EXCEPTION_CLASSES.get(name)
        if cls is None:
            cls = EXCEPTION_CLASSES[name] = type(name, (Exception,), {"__module__": "program"})
        exc = cls(message if type(message) is str else "")
    exc.__ilf_remote_tb__ = [f for f in (frames or []) if type(f) is str][-20:]
    return exc


def ask(message, originals=None):
    reply = CHANNEL.request(message)
    tag = reply[0]
    if tag == "ok" and len(reply) == 3:
        value = decode(reply[1])
        if originals is not None and type(reply[2]) is list:
            copy_back(originals, reply[2])
        return value
    if tag == "E":
        raise remote_exception(reply)
    if tag == "big":
        CHANNEL.not_plain("the program's value is too large to judge: %s" % cap(str(reply[1:]), 200))
    CHANNEL.not_plain("the program answered out of protocol")


def copy_back(originals, changes):
    """In-place changes the program made to list/dict/set arguments (tests of in-place sorts)."""
    args, kwargs = originals
    for key, encoded in changes:
        target = args[key] if type(key) is int and 0 <= key < len(args) else kwargs.get(key) if type(key) is str else None
        new = decode(encoded)
        t = type(target)
        if t is list and type(new) is list:
            target[:] = new
        elif t is dict and type(new) is dict:
            target.clear()
            target.update(new)
        elif t is set and type(new) is set:
            target.clear()
            target.update(new)
        elif t is bytearray and type(new) is bytearray:
            target[:] = new


def refuse(name):
    def method(self, *args):
        CHANNEL.not_plain("%s: a %s from the program is not plain data" % (name, object.__getattribute__(self, "_type")))
    return method


class Remote:
    """A program object that is not plain data: it stays in the program process."""

    __slots__ = ("_id", "_type")

    def __init__(self, hid, tname):
        object.__setattr__(self, "_id", hid)
        object.__setattr__(self, "_type", tname)

    def __call__(self, *args, **kwargs):
        encoded = [encode_arg(a) for a in args]
        kw = [[k, encode_arg(v)] for k, v in kwargs.items()]
        return ask(["call", object.__getattribute__(self, "_id"), encoded, kw], (args, kwargs))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return ask(["getattr", object.__getattribute__(self, "_id"), name])

    def __setattr__(self, name, value):
        ask(["setattr", object.__getattribute__(self, "_id"), name, encode_arg(value)])

    def __getitem__(self, key):
        return ask(["getitem", object.__getattribute__(self, "_id"), encode_arg(key)])

    def __iter__(self):
        return ask(["iter", object.__getattribute__(self, "_id")])

    def __next__(self):
        return ask(["next", object.__getattribute__(self, "_id")])

    def __len__(self):
        n = ask(["len", object.__getattribute__(self, "_id")])
        if type(n) is not int:
            CHANNEL.not_plain("len() of a program object gave %s" % safe_repr(n))
        return n

    def __repr__(self):
        return "<%s object from the program: not plain data>" % object.__getattribute__(self, "_type")

    __str__ = __repr__

    def __format__(self, spec):
        return repr(self)


for _name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__contains__",
              "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__neg__", "__pos__",
              "__abs__", "__int__", "__float__", "__index__", "__complex__", "__round__", "__and__", "__or__",
              "__xor__", "__rand__", "__ror__", "__rxor__", "__lshift__", "__rshift__", "__invert__", "__reversed__",
              "__matmul__", "__trunc__", "__floor__", "__ceil__"):
    setattr(Remote, _name, refuse(_name))


def decode(x):
    """Tagged JSON from the program → builtin values (or Remote handles). Nothing else."""
    budget = [0]

    def dec(x, depth):
        budget[0] += 1
        if budget[0] > NODE_CAP or depth > DEPTH_CAP:
            CHANNEL.not_plain("the program's value has more than %d parts or is nested deeper than %d" % (NODE_CAP, DEPTH_CAP))
        t = type(x)
        if x is None or t is bool or t is int or t is float or t is str:
            return x
        if t is not list or not x or type(x[0]) is not str:
            CHANNEL.not_plain("the program sent a value that is not plain data")
        tag, n, d = x[0], len(x), depth + 1
        if tag == "L":
            return [dec(x[i], d) for i in range(1, n)]
        if tag == "T":
            return tuple(dec(x[i], d) for i in range(1, n))
        if tag == "D":
            out = {}
            for i in range(1, n - 1, 2):
                key = dec(x[i], d)
                if not hashable(key):
                    CHANNEL.not_plain("a dict key from the program is not plain data")
                out[key] = dec(x[i + 1], d)
            return out
        if tag in ("S", "F"):
            items = [dec(x[i], d) for i in range(1, n)]
            if not all(hashable(k) for k in items):
                CHANNEL.not_plain("a set element from the program is not plain data")
            return set(items) if tag == "S" else frozenset(items)
        if tag in ("B", "A") and n == 2 and type(x[1]) is str:
            try:
                raw = x[1].encode("latin-1")
            except UnicodeEncodeError:
                CHANNEL.not_plain("malformed bytes from the program")
            return raw if tag == "B" else bytearray(raw)
        if tag == "C" and n == 3 and type(x[1]) in (int, float) and type(x[2]) in (int, float):
            return complex(x[1], x[2])
        if tag == "R" and n == 4 and all(type(v) is int for v in x[1:]) and x[3] != 0:
            return range(x[1], x[2], x[3])
        if tag == "Y" and n == 2 and type(x[1]) is str and x[1] in PLAIN_TYPES:
            return PLAIN_TYPES[x[1]]
        if tag == "I" and n == 2 and type(x[1]) is str and len(x[1]) < 100_000:
            try:
                return int(x[1], 16)
            except ValueError:
                pass
        if tag == "N" and n == 2 and type(x[1]) is str and len(x[1]) < 10_000:
            try:
                return decimal.Decimal(x[1])
            except decimal.InvalidOperation:
                pass
        if tag == "Q" and n == 3:
            num, den = dec(x[1], d), dec(x[2], d)
            if type(num) is int and type(den) is int and den != 0:
                return fractions.Fraction(num, den)
        if tag == "H" and n == 3 and type(x[1]) is int and type(x[2]) is str:
            return Remote(x[1], cap(x[2], 80))
        CHANNEL.not_plain("the program sent a value that is not plain data")

    return dec(x, 0)


def hashable(value, depth=0):
    t = type(value)
    if t in (tuple, frozenset):
        return depth < DEPTH_CAP and all(hashable(v, depth + 1) for v in value)
    return t is not Remote and t not in (list, dict, set, bytearray)


def encode_arg(value):
    """The harness's values to the program: plain data, or a handle the program gave us."""

    def handle(v):
        if type(v) is Remote:
            return ["H", object.__getattribute__(v, "_id"), ""]
        raise NeedsInProcess("a test passes the program a %s" % type(v).__name__)

    try:
        return Encoder(handle).enc(value)
    except TooBig:
        raise NeedsInProcess("a test passes the program a value too large to copy")


def contains_remote(value, depth=0):
    t = type(value)
    if t is Remote:
        return True
    if depth > DEPTH_CAP:
        return False
    if t in (list, tuple, set, frozenset):
        return any(contains_remote(v, depth + 1) for v in value)
    if t is dict:
        return any(contains_remote(k, depth + 1) or contains_remote(v, depth + 1) for k, v in value.items())
    return False


def is_call(node):
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


class ComparisonFailed(AssertionError):
    def __init__(self, actual, expected):
        AssertionError.__init__(self, "expected %s, got %s" % (expected, actual))
        self.actual = actual
        self.expected = expected


def plain_eq(actual, expected):
    # Values from the program are builtins here; a handle inside is never equal to anything.
    if contains_remote(actual) or contains_remote(expected):
        return False
    return bool(actual == expected)


def check_eq(left, right, is_eq, swap):
    actual, expected = (right, left) if swap else (left, right)
    if plain_eq(actual, expected) != is_eq:
        raise ComparisonFailed(safe_repr(actual), safe_repr(expected) if is_eq else "anything but " + safe_repr(expected))


def check_truth(value):
    if contains_remote(value) or not bool(value):
        raise ComparisonFailed(safe_repr(value), "a true value")


class SafeAsserts(ast.NodeTransformer):
    """Rewrites the trusted code's `assert A == B` and `assert X` to checks that report expected vs
    actual (and, in the in-process fallback, cannot be fooled by the program's __eq__ or __bool__)."""

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


class Reporter:
    """Appends one JSON line per message to the runner's memfd, at most REPORT_CAP bytes in all."""

    def __init__(self, fd):
        self.fd = fd
        self.written = 0

    def send(self, message):
        data = (json.dumps(message, ensure_ascii=True) + "\n").encode()
        if self.written + len(data) > REPORT_CAP:
            return
        self.written += len(data)
        try:
            write_all(self.fd, data)
        except OSError:
            pass


def outcome_of(exc, gone_ok=False):
    if isinstance(exc, ComparisonFailed):
        return {"outcome": "assertion_failed", "actual": exc.actual, "expected": exc.expected,
                "traceback": trimmed_traceback(exc)}
    if isinstance(exc, NotPlainData):
        return {"outcome": "error", "kind": "not_plain_data", "exceptionType": "NotPlainData",
                "exceptionMessage": cap(str(exc), MESSAGE_CAP), "traceback": trimmed_traceback(exc)}
    if isinstance(exc, AssertionError):
        return {"outcome": "assertion_failed", "message": cap(str(exc), MESSAGE_CAP) or None,
                "traceback": trimmed_traceback(exc)}
    if isinstance(exc, SystemExit):
        return {"outcome": "error", "kind": "runtime_error", "exceptionType": "SystemExit",
                "exceptionMessage": "sys.exit(%s) during a test" % safe_repr(exc.code), "traceback": trimmed_traceback(exc)}
    if isinstance(exc, MemoryError):
        return {"outcome": "error", "kind": "memory_limit", **describe(exc)}
    return {"outcome": "error", "kind": "runtime_error", **describe(exc)}


def mirror_setup_names(before, namespace):
    """Names the setup code bound (new, or rebound) are set in the program's globals too, as the
    README promises (setup code runs after the program, in its namespace): data by value, the
    program's own objects by handle. What cannot cross (a function or class the setup defines)
    stays in the harness only."""
    for name, value in list(namespace.items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        if name in before and before[name] is value:
            continue
        try:
            encoded = encode_arg(value)
        except NeedsInProcess:
            continue
        reply = CHANNEL.request(["global", name, encoded])
        if reply[0] == "E":
            raise remote_exception(reply)


def harness_main(job, sock, report_fd):
    global CHANNEL
    CHANNEL = Channel(sock)
    report = Reporter(report_fd)
    try:
        init = CHANNEL.request(["init", job["program"], job["limits"], job["workdir"], job["extraProcesses"]])
    except ProgramGone:
        report.send({"phase": "gone", "stage": "program"})
        return
    except NotPlainData as exc:
        report.send({"phase": "program", "kind": "not_plain_data", "exceptionType": "NotPlainData", "exceptionMessage": str(exc)})
        return
    if init[0] == "unclean":
        report.send({"phase": "unclean"})
        return
    if init[0] == "fail" and len(init) == 2 and type(init[1]) is dict:
        info = init[1]
        kind = info.get("kind") if info.get("kind") in ("syntax_error", "runtime_error", "memory_limit") else "runtime_error"
        message = {"phase": "program", "kind": kind}
        for key in ("exceptionType", "exceptionMessage", "traceback"):
            if type(info.get(key)) is str:
                message[key] = cap(info[key], TRACEBACK_CAP if key == "traceback" else MESSAGE_CAP)
        report.send(message)
        return
    namespace = {"__name__": "__main__", "__builtins__": builtins,
                 "__ilf_check_eq__": check_eq, "__ilf_check_truth__": check_truth}
    try:
        if init[0] != "ok" or type(init[1]) is not list:
            CHANNEL.not_plain("the program answered out of protocol")
        for entry in init[1]:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
                CHANNEL.not_plain("the program answered out of protocol")
            name, value = entry
            if type(value) is list and len(value) == 2 and value[0] == "M":
                # A module the program imported: the harness imports its own copy from the stdlib.
                top = str(value[1]).split(".")[0]
                if top in sys.stdlib_module_names:
                    try:
                        namespace[name] = __import__(str(value[1]), fromlist=["_"])
                    except BaseException:
                        pass
                continue
            namespace[name] = decode(value)
    except NotPlainData as exc:
        report.send({"phase": "program", "kind": "not_plain_data", "exceptionType": "NotPlainData", "exceptionMessage": str(exc)})
        return
    setup = job.get("setup") or ""
    if setup.strip():
        try:
            setup_code = compile_trusted(setup, "<setup>")
        except SyntaxError as exc:
            report.send({"phase": "setup", "kind": "sandbox_error", **describe(exc)})
            return
        before = dict(namespace)
        try:
            exec(setup_code, namespace)
            mirror_setup_names(before, namespace)
        except NeedsInProcess as exc:
            report.send({"phase": "fallback", "reason": cap(str(exc), MESSAGE_CAP)})
            return
        except ProgramGone:
            report.send({"phase": "gone", "stage": "setup"})
            return
        except BaseException as exc:
            failure = outcome_of(exc)
            failure.pop("outcome")
            failure.setdefault("kind", "runtime_error")
            report.send({"phase": "setup", **failure})
            return
    for index, source in enumerate(job["tests"]):
        report.send({"phase": "test-start", "index": index})
        try:
            code = compile_trusted(source, "<test %d>" % index)
        except SyntaxError as exc:
            report.send({"phase": "test", "index": index, "outcome": "error", "kind": "runtime_error",
                         "message": "the test itself does not parse: %s" % exc})
            continue
        before = CHANNEL.violations
        try:
            exec(code, namespace)
            result = {"outcome": "passed"}
        except NeedsInProcess as exc:
            report.send({"phase": "fallback", "reason": cap(str(exc), MESSAGE_CAP)})
            return
        except ProgramGone:
            report.send({"phase": "gone", "stage": "test", "index": index})
            return
        except BaseException as exc:
            result = outcome_of(exc)
        if CHANNEL.violations > before and result.get("kind") != "not_plain_data":
            # The test caught our NotPlainData (a bare except): the verdict stands anyway.
            result = {"outcome": "error", "kind": "not_plain_data", "exceptionType": "NotPlainData",
                      "exceptionMessage": "a program value was used as if it were plain data"}
        report.send({"phase": "test", "index": index, **result})
    report.send({"phase": "done"})


def harness_loop(control):
    """The long-lived harness: one job per message (its socket to the program, its report memfd,
    its job in a memfd), each in a fresh namespace; answers "done" after each."""
    while True:
        message, fds, _, _ = socket.recv_fds(control, 64, 3)
        if not message or len(fds) != 3:
            os._exit(0)
        chan, report_fd, job_fd = fds
        global CHANNEL
        try:
            job = json.loads(os.pread(job_fd, os.fstat(job_fd).st_size, 0))
            os.close(job_fd)
            memory = int(job["limits"]["memoryMb"]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, resource.getrlimit(resource.RLIMIT_AS)[1]))
            sock = socket.socket(fileno=chan)
            try:
                harness_main(job, sock, report_fd)
            finally:
                sock.close()
                os.close(report_fd)
                CHANNEL = None
        except BaseException:
            os._exit(0)  # not a clean end: the runner starts another harness
        control.send(b"done")


# ---------------------------------------------------------------------------------------------
# The in-process fallback: program and tests in one process (the design before the harness).
# Used only when a test hands the program something that cannot cross (the result says so).

SAFE_KEYS = (int, float, complex, bool, str, bytes, type(None))
TRUSTED_NUMBERS = (decimal.Decimal, fractions.Fraction)


def safe_key(value, depth=0):
    t = type(value)
    if t in SAFE_KEYS:
        return True
    if t in (tuple, frozenset) and depth < 20:
        return all(safe_key(v, depth + 1) for v in t.__iter__(value))
    return False


def safe_eq(actual, expected, depth=0):
    """`actual == expected` without ever calling an __eq__ the program defined."""
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
        return bool(actual == expected)
    try:
        return te.__eq__(expected, actual) is True
    except BaseException:
        return False


def inprocess_check_eq(left, right, is_eq, swap):
    actual, expected = (right, left) if swap else (left, right)
    if safe_eq(actual, expected) != is_eq:
        raise ComparisonFailed(safe_repr(actual), safe_repr(expected) if is_eq else "anything but " + safe_repr(expected))


def inprocess_check_truth(value):
    if not (type(value).__module__ == "builtins" and bool(value)):
        raise ComparisonFailed(safe_repr(value), "a true value")


def inprocess_main(job, report_fd):
    report = Reporter(report_fd)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        program = compile(job["program"], "<program>", "exec")
    except (SyntaxError, ValueError) as exc:
        report.send({"phase": "program", "kind": "syntax_error", **describe(exc)})
        return

    def stage(name, code):
        try:
            exec(code, namespace)
            return True
        except SystemExit as exc:
            report.send({"phase": name, "kind": "runtime_error", "exceptionType": "SystemExit",
                         "exceptionMessage": "the %s called sys.exit(%s) before the tests ran" % (name, safe_repr(exc.code)),
                         "traceback": trimmed_traceback(exc)})
        except MemoryError as exc:
            report.send({"phase": name, "kind": "memory_limit", **describe(exc)})
        except BaseException as exc:
            report.send({"phase": name, "kind": "runtime_error", **describe(exc)})
        return False

    if not stage("program", program):
        return
    namespace["__ilf_check_eq__"] = inprocess_check_eq
    namespace["__ilf_check_truth__"] = inprocess_check_truth
    setup = job.get("setup") or ""
    if setup.strip():
        try:
            setup_code = compile_trusted(setup, "<setup>")
        except SyntaxError as exc:
            report.send({"phase": "setup", "kind": "sandbox_error", **describe(exc)})
            return
        if not stage("setup", setup_code):
            return
    for index, source in enumerate(job["tests"]):
        report.send({"phase": "test-start", "index": index})
        try:
            code = compile_trusted(source, "<test %d>" % index)
        except SyntaxError as exc:
            report.send({"phase": "test", "index": index, "outcome": "error", "kind": "runtime_error",
                         "message": "the test itself does not parse: %s" % exc})
            continue
        try:
            exec(code, namespace)
            result = {"outcome": "passed"}
        except BaseException as exc:
            result = outcome_of(exc)
        report.send({"phase": "test", "index": index, **result})
    report.send({"phase": "done"})


# ---------------------------------------------------------------------------------------------
# Scratch space: emptied before every program, as the program's own uid, never following a link.


def remove_tree(root):
    """Empties `root` (keeps it). lstat only: a symlink is removed, never followed."""
    stack, dirs = [root], []
    while stack:
        path = stack.pop()
        try:
            if path != root:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(path)
                    continue
            if path != root:
                os.chmod(path, 0o700)  # the program may have taken its own permissions away
            dirs.append(path)
            with os.scandir(path) as entries:
                stack.extend(e.path for e in entries)
        except FileNotFoundError:
            pass
    for path in reversed(dirs):
        if path != root:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass


def clean_scratch():
    ok = True
    for root in SCRATCH:
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            ok = False
            continue
        if st.st_uid == os.geteuid():
            try:
                os.chmod(root, 0o1777)  # the program may have changed it (bubblewrap: it owns the tmpfs)
            except OSError:
                pass
        try:
            remove_tree(root)
            if os.listdir(root):
                ok = False
        except OSError:
            ok = False
    return ok


def arrange_fds(stdio, keep):
    """In a fresh child: fds 0-2 become `stdio`, `keep` become 3, 4, ..., and nothing else stays open
    (so no process ever holds the runner's channel to the host, or the other side's ends)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for fd in list(stdio) + list(keep)]
    for i, fd in enumerate(high[:3]):
        os.dup2(fd, i)
    for i, fd in enumerate(high[3:]):
        os.dup2(fd, 3 + i)
    os.closerange(3 + len(keep), 65536)


def program_child(fds):
    """In a fresh fork of the zygote: become the program's process (its stdout/stderr memfds, the
    socket to the harness) and serve the harness. It may be forked while the previous job still
    runs: it keeps the zygote's uid (which that job's program cannot signal or read) until its
    own job's first request, and only then drops to the program's uid."""
    chan_p, out, err = fds
    try:
        # The zygote's own 0-2 are /dev/null and its sys.stdin/stdout/stderr wrappers are made
        # already (fork copies them, empty): dup the memfds under them, close the rest.
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(chan_p, 3)
        os.closerange(4, 65536)
        os.setsid()
        # The zygote blocks the signals it must not die of; the program gets them back, as defaults.
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sock = socket.socket(fileno=3)
    except BaseException:
        os._exit(71)
    try:
        program_main(sock)
    finally:
        os._exit(0)


def zygote_main():
    """Forks program processes on request and tells the runner how each one ended."""
    not_dumpable()
    # Blocked rather than ignored: a fork then restores the defaults with one call (the catchable
    # signals are SIG_DFL here, SIGXFSZ ignored so writes past the output cap fail instead of killing).
    for s in CATCHABLE:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, CATCHABLE)
    # Made once here, so a program process only dups its memfds under them.
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1 << 16, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    gc.collect()
    gc.freeze()  # forked children do not touch (copy) the preloaded objects when they collect
    control = socket.socket(fileno=3)
    children = {}  # pidfd -> pid
    while True:
        readable, _, _ = select.select([control] + list(children), [], [])
        for fd in readable:
            if fd is control:
                try:
                    message, fds, _, _ = socket.recv_fds(control, 1 << 16, 8)
                except OSError:
                    os._exit(0)
                if not message:
                    os._exit(0)
                try:
                    token = json.loads(message).get("token")
                except (ValueError, AttributeError):
                    token = None
                pid = os.fork()
                if pid == 0:
                    control.close()
                    for other in children:
                        os.close(other)
                    program_child(fds)
                for passed in fds:
                    os.close(passed)
                children[os.pidfd_open(pid)] = pid
                control.send(json.dumps({"program": pid, "token": token}).encode())
            else:
                pid = children.pop(fd)
                os.close(fd)
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:
                    status = None
                control.send(json.dumps({"exited": pid, "status": status}).encode())


# ---------------------------------------------------------------------------------------------
# The runner.

def own_source():
    args = open("/proc/self/cmdline", "rb").read().split(b"\0")
    return args[args.index(b"-c") + 1]


class Zygote:
    def __init__(self, source):
        self.source = source
        self.pid = None
        self.sock = None
        self.exits = {}  # program pid -> wait status, as the zygote reports them
        self.spawned = {}  # request token -> program pid
        self.token = 0

    def start(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(theirs.fileno(), 3)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(4, 65536)
                os.execv(sys.executable, [sys.executable, "-I", "-S", "-B", "-u", "-c", self.source, "--ilf-zygote"])
            finally:
                os._exit(127)
        theirs.close()
        self.pid, self.sock = pid, ours
        self.exits = {}
        self.spawned = {}

    def stop(self):
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        if self.sock is not None:
            self.sock.close()
        self.pid, self.sock = None, None

    def healthy(self):
        if self.pid is None:
            return False
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = None
                return False
            with open("/proc/%d/stat" % self.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            return state in ("S", "R", "D")
        except OSError:
            return False

    def request(self, fds):
        """Asks for a program process; `answer(token)` collects its pid (meanwhile the runner works on)."""
        if not self.healthy():
            self.stop()
            self.start()
        self.token += 1
        socket.send_fds(self.sock, [json.dumps({"token": self.token}).encode()], fds)
        return self.token

    def read(self, timeout):
        """One message from the zygote (exit notices are filed away); None on timeout."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data = self.sock.recv(1 << 16)
        if not data:
            self.stop()
            raise RuntimeError("the zygote ended")
        message = json.loads(data)
        if "exited" in message:
            self.exits[message["exited"]] = message["status"]
        if "program" in message:
            self.spawned[message.get("token")] = message["program"]
        return message

    def answer(self, token):
        deadline = time.monotonic() + ZYGOTE_TIMEOUT
        while token not in self.spawned:
            message = self.read(max(0.0, deadline - time.monotonic()))
            if message is None:
                self.stop()
                raise RuntimeError("the zygote did not answer")
        return {"program": self.spawned.pop(token)}


def kill_others(keep, statuses):
    """SIGKILL every process in this PID namespace but us and `keep` (pids), and reap them."""
    me = os.getpid()
    keep = set(keep)
    for _ in range(1000):
        others = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                pid = int(entry)
                if pid != me and pid not in keep:
                    others.append(pid)
        alive = []
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if fields[0] != "Z" or int(fields[1]) == me:
                    alive.append(pid)  # a zombie of the zygote's is dead already: it reaps its own
            except (OSError, IndexError, ValueError):
                pass
        reap(statuses)
        if not alive:
            return
        time.sleep(0.0005)


def reap(statuses):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = status


def parse_lines(buffer, messages):
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        if line.strip() and len(messages) < REPORT_MESSAGES:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.append(message)
    return rest


def is_cancel(line):
    try:
        return json.loads(line).get("cancel") is True
    except (ValueError, AttributeError):
        return False


def capture(fd, limit):
    """Reads the program's stdout/stderr through the runner's own fd of its memfd: no path, so
    nothing the program does to files can make this block."""
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, limit, 0)
        return data.decode("utf-8", "replace"), size
    except OSError:
        return "", 0
    finally:
        os.close(fd)


class Runner:
    def __init__(self, control, channel, zygote):
        self.control = control
        self.channel = channel
        self.zygote = zygote
        self.queued = []
        self.next = None
        self.prepare_error = None
        self.harness = None
        self.counter = 0
        self.healthy = True

    def wait(self, job, watch_fds, main_pid, other_pid, statuses, done_sock=None):
        """Waits for the harness to say it is done (`done_sock`) or for `main_pid` to exit, the
        deadline, or a cancel; returns (timed_out, cancelled)."""
        limits = job["limits"]
        deadline = self.started + limits["timeoutMs"] / 1000.0
        main_fd, other_fd = watch_fds
        watch = [self.control.fileno(), main_fd] + ([other_fd] if other_fd is not None else []) + ([done_sock] if done_sock else [])
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True, False
            readable, _, _ = select.select(watch, [], [], remaining)
            if self.control.fileno() in readable:
                line = self.control.readline()
                if not line or is_cancel(line):
                    return False, True
                self.queued.append(line)  # the next job, sent early
            if other_fd is not None and other_fd in readable:
                watch.remove(other_fd)  # the program process ended; the zygote (its parent) says how
            if done_sock is not None and done_sock in readable:
                try:
                    if done_sock.recv(16) == b"done":
                        return False, False
                except OSError:
                    pass
                watch.remove(done_sock)  # ended: its pidfd says so next
            if main_fd in readable:
                _, status = os.waitpid(main_pid, 0)
                statuses[main_pid] = status
                return False, False

    def read_report(self, fd):
        """The harness reports into a memfd (no wakeup of the runner per message): read it whole, capped."""
        try:
            data = os.pread(fd, REPORT_CAP, 0)
        except OSError:
            data = b""
        self.messages = []
        parse_lines(data + b"\n", self.messages)
        return self.messages

    def run(self, job):
        result = self.run_mode(job, "separate-process")
        if result.pop("fallback", False):
            result = self.run_mode(job, "in-process")
            result.pop("fallback", None)
        return result

    def start_harness(self):
        """The harness lives across jobs (one fork per worker, not per job): it runs each job's tests
        in a fresh namespace and is replaced after any job that did not end cleanly (a timeout, a
        cancel, its death) and every HARNESS_JOBS jobs."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
                arrange_fds((devnull, devnull, devnull), (theirs.fileno(),))
                os.setsid()
                drop_to(HARNESS_UID)
                ignore_signals()  # where the program shares its uid (bubblewrap) it may signal us
                harness_loop(socket.socket(fileno=3))
            except BaseException:
                pass
            os._exit(0)
        theirs.close()
        self.harness = {"pid": pid, "sock": ours, "fd": os.pidfd_open(pid), "jobs": 0}

    def stop_harness(self):
        if self.harness is None:
            return
        try:
            os.kill(self.harness["pid"], signal.SIGKILL)
            os.waitpid(self.harness["pid"], 0)
        except OSError:
            pass
        self.harness["sock"].close()
        os.close(self.harness["fd"])
        self.harness = None

    def prepare(self):
        """Starts the next job's program process now, between jobs, while nothing untrusted runs
        (from the zygote, so it never held another job's data): the fork overlaps the host's round
        trip. The harness is started here too when there is none."""
        if self.harness is None:
            self.start_harness()
        out = os.memfd_create("stdout", os.MFD_CLOEXEC)
        err = os.memfd_create("stderr", os.MFD_CLOEXEC)
        chan_p, chan_h = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            token = self.zygote.request([chan_p.fileno(), out, err])
        except BaseException:
            os.close(out)
            os.close(err)
            chan_h.close()
            raise
        finally:
            chan_p.close()
        self.next = {"out": out, "err": err, "chan": chan_h, "token": token, "zygote": self.zygote.pid}

    def discard_prepared(self):
        """Drops the prepared process (killed with the others; its fds closed here)."""
        if self.next is not None:
            os.close(self.next["out"])
            os.close(self.next["err"])
            self.next["chan"].close()
            self.next = None

    def prepared_pid(self):
        """The prepared process's pid (waits for the zygote's answer); None, and nothing prepared, if it failed."""
        ready = self.next
        if ready is None:
            return None
        if "program" not in ready:
            try:
                if ready["zygote"] != self.zygote.pid:
                    raise RuntimeError("the zygote was replaced")
                ready["program"] = int(self.zygote.answer(ready["token"])["program"])
            except BaseException as exc:
                self.discard_prepared()
                self.prepare_error = str(exc)
                return None
        return ready["program"]

    def take_prepared(self):
        if self.next is None or self.prepared_pid() is None:
            self.prepare()  # none, or it died with a replaced zygote: one more try with the live one
        if self.prepared_pid() is None:
            raise RuntimeError("the zygote could not start the program's process: %s" % self.prepare_error)
        ready, self.next = self.next, None
        return ready

    def run_mode(self, job, mode):
        limits = job["limits"]
        self.counter += 1
        workdir = os.path.join(WORK_ROOT, "job-%d-%s" % (self.counter, secrets.token_hex(4)))
        self.messages = []
        statuses = {}
        self.started = time.monotonic()
        program_pid = None
        if mode == "separate-process":
            ready = self.take_prepared()
            if self.harness is None:
                self.start_harness()
            program_pid, main_pid = ready["program"], self.harness["pid"]
            self.zygote.exits.pop(program_pid, None)
            out, err = ready["out"], ready["err"]
            report_r = os.memfd_create("report", os.MFD_CLOEXEC)
            job_fd = os.memfd_create("job", os.MFD_CLOEXEC)
            write_all(job_fd, json.dumps(dict(job, workdir=workdir, extraProcesses=4)).encode())
            try:
                socket.send_fds(self.harness["sock"], [b"job"], [ready["chan"].fileno(), report_r, job_fd])
            except OSError:
                pass  # the harness is gone: the wait sees it
            ready["chan"].close()
            os.close(job_fd)
            self.harness["jobs"] += 1
            if PROGRAM_UID is not None:
                # The next job's process, forked now so the fork overlaps this job: it keeps the
                # zygote's uid until its own job, so this job's program can neither signal nor read it.
                try:
                    self.prepare()
                except BaseException:
                    self.next = None  # forked after the job instead
        else:
            out = os.memfd_create("stdout", os.MFD_CLOEXEC)
            err = os.memfd_create("stderr", os.MFD_CLOEXEC)
            report_r = report_w = os.memfd_create("report", os.MFD_CLOEXEC)
            main_pid = os.fork()
            if main_pid == 0:
                try:
                    devnull = os.open(os.devnull, os.O_RDWR)
                    arrange_fds((devnull, out, err), (report_w,))
                    sys.stdout = open(1, "w", buffering=1 << 16, closefd=False)
                    sys.stderr = open(2, "w", buffering=1, closefd=False)
                    os.setsid()
                    drop_to(PROGRAM_UID)
                    clean_scratch()
                    os.mkdir(workdir, 0o700)
                    os.chdir(workdir)
                    default_signals()
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                    set_limits(limits, 4)
                    inprocess_main(job, 3)
                except BaseException:
                    pass
                finally:
                    try:
                        sys.stdout.flush()
                    except BaseException:
                        pass
                    os._exit(0)
        separate = mode == "separate-process"
        main_fd = os.dup(self.harness["fd"]) if separate else os.pidfd_open(main_pid)
        program_fd = os.pidfd_open(program_pid) if program_pid is not None else None
        try:
            timed_out, cancelled = self.wait(job, (main_fd, program_fd), main_pid, program_pid, statuses,
                                             self.harness["sock"] if separate else None)
            if not timed_out and not cancelled and program_pid is not None \
                    and any(m.get("phase") == "gone" for m in self.read_report(report_r)):
                # The harness saw the program end: its status (from the zygote) says why.
                deadline = time.monotonic() + 2.0
                while program_pid not in self.zygote.exits and time.monotonic() < deadline:
                    self.zygote.read(deadline - time.monotonic())
                if program_pid in self.zygote.exits:
                    statuses[program_pid] = self.zygote.exits[program_pid]
        finally:
            os.close(main_fd)
            if program_fd is not None:
                os.close(program_fd)
        duration_ms = (time.monotonic() - self.started) * 1000.0
        program_status = statuses.get(program_pid) if program_pid is not None else None
        harness_status = statuses.get(main_pid)
        if separate and (timed_out or cancelled or main_pid in statuses or self.harness["jobs"] >= HARNESS_JOBS):
            self.stop_harness()  # mid-job, dead, or old: a fresh one for the next job
        keep = [self.zygote.pid] + ([self.harness["pid"]] if self.harness is not None else [])
        if self.prepared_pid() is not None:
            keep.append(self.next["program"])  # the next job's, forked during this one
        kill_others(keep, statuses)
        messages = self.read_report(report_r)
        os.close(report_r)
        if any(m.get("phase") == "unclean" for m in messages):
            os.close(out)
            os.close(err)
            self.healthy = False
            raise RuntimeError("worker health check failed: the scratch space could not be emptied after the last program")
        if mode == "separate-process" and not timed_out and not cancelled and any(m.get("phase") == "fallback" for m in messages):
            os.close(out)
            os.close(err)
            return {"fallback": True}
        cap_bytes = int(limits["captureBytes"])
        stdout, out_size = capture(out, cap_bytes)
        stderr, err_size = capture(err, cap_bytes)
        output_limit = max(out_size, err_size) >= int(limits["outputBytes"])
        status = program_status if (mode == "separate-process" and program_status is not None) else harness_status
        result = summarize(job, messages, status, timed_out, cancelled, output_limit, mode == "separate-process")
        result.update({"stdout": stdout, "stderr": stderr, "outputTruncated": out_size > cap_bytes or err_size > cap_bytes,
                       "durationMs": duration_ms, "judge": mode})
        return result


def summarize(job, messages, status, timed_out, cancelled, output_limit, separate):
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
                if isinstance(m.get(key), str):
                    entry[key] = cap(m[key], MESSAGE_CAP)
            if entry["outcome"] == "error" and m.get("exceptionType"):
                entry["message"] = cap("%s: %s" % (m["exceptionType"], m.get("exceptionMessage", "")), MESSAGE_CAP)
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
                else "the program exited (code %s) before its tests finished" % code if code is not None or not separate
                else "the harness ended before the tests finished")
    if timed_out or (kind in ("timeout", "memory_limit", "output_limit", "runtime_error") and not done):
        if running is not None and tests[running]["outcome"] == "not_run":
            tests[running] = {"index": running, "outcome": "timeout" if kind == "timeout" else "error"}
    if kind is None:
        if all(t["outcome"] == "passed" for t in tests):
            return dict(result, status="passed", errorKind=None)
        kind = "assertion_failure"
    if first_failure is not None:
        for key in ("exceptionType", "exceptionMessage", "traceback"):
            if isinstance(first_failure.get(key), str):
                result.setdefault(key, cap(first_failure[key], TRACEBACK_CAP if key == "traceback" else MESSAGE_CAP))
    if kind == "timeout":
        result.setdefault("exceptionMessage", "timed out after %d ms" % job["limits"]["timeoutMs"])
    if kind == "output_limit":
        result["exceptionMessage"] = "wrote more than %d bytes of output" % job["limits"]["outputBytes"]
    return dict(result, status="failed", errorKind=kind)


def main():
    if "--ilf-zygote" in sys.argv:
        zygote_main()
        return
    if os.getpid() != 1:
        # kill_others() signals every process we can see: only safe as PID 1 of our own namespace.
        sys.stderr.write("ilf runner: refusing to run outside its own PID namespace (pid %d)\n" % os.getpid())
        sys.exit(3)
    not_dumpable()
    ignore_signals()
    # Our own channel, on close-on-exec fds that every child closes before running anything;
    # 0/1/2 become /dev/null so no child can ever inherit the host's pipes.
    control = os.fdopen(os.dup(0), "r", buffering=1)
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.makedirs(WORK_ROOT, exist_ok=True)
    if PROGRAM_UID is not None:
        for root in SCRATCH:
            try:
                # Ours (bubblewrap makes its tmpfs mounts 0755): the program's uid must create its
                # files there, and cannot chmod what it does not own.
                if os.lstat(root).st_uid == os.geteuid():
                    os.chmod(root, 0o1777)
            except OSError:
                pass
    gc.freeze()
    zygote = Zygote(own_source())
    zygote.start()
    runner = Runner(control, channel, zygote)
    runner.prepare()
    channel.write(json.dumps({"ready": True, "python": sys.version.split()[0], "pid": os.getpid()}) + "\n")
    while runner.healthy:
        line = runner.queued.pop(0) if runner.queued else control.readline()
        if not line:
            return
        try:
            job = json.loads(line)
        except ValueError:
            continue
        if not isinstance(job, dict) or "program" not in job:
            continue
        try:
            result = runner.run(job)
        except BaseException as exc:  # the runner's own failure is the sandbox's fault
            kill_others([zygote.pid], {})
            runner.discard_prepared()
            runner.stop_harness()
            runner.healthy = runner.healthy and zygote.healthy()
            result = {"status": "sandbox_error", "errorKind": "sandbox_error", "testResults": [],
                      "exceptionType": type(exc).__name__, "exceptionMessage": cap(str(exc), MESSAGE_CAP), "stdout": "",
                      "stderr": "", "outputTruncated": False, "durationMs": 0}
        if runner.healthy and runner.next is None:
            try:
                # The next job's processes, before the result goes out (so the set of processes a
                # host sees between jobs is always the same); the zygote forks while the host reads.
                runner.prepare()
            except BaseException:
                runner.next = None  # tried again when the next job comes, and reported then
        result["id"] = job.get("id")
        if not runner.healthy:
            result["unhealthy"] = True
        channel.write(json.dumps(result, ensure_ascii=True) + "\n")
    # A failed health check: end, and the host starts a fresh worker.


if __name__ == "__main__":
    main()

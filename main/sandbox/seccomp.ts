/**
 * The sandbox's seccomp policy, in the two forms the backends take: classic BPF for bubblewrap's
 * `--seccomp FD`, and a Docker profile. Everything is allowed except what would let a program reach
 * another process of the sandbox (ptrace, process_vm_*, pidfd_getfd), leave or build namespaces
 * (unshare, setns, clone with CLONE_NEW*), mount, use keyrings, or load BPF / perf programs.
 */

const EPERM = 1;
const ENOSYS = 38;

/** Syscalls denied outright (EPERM), by name. */
export const DENIED_SYSCALLS = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'unshare', 'setns', 'mount', 'umount2', 'pivot_root',
  'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'keyctl', 'add_key', 'request_key',
  'bpf', 'perf_event_open', 'userfaultfd', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'chroot',
] as const;
type Denied = (typeof DENIED_SYSCALLS)[number];

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

interface ArchTable {
  audit: number;
  /** Syscall numbers at or above this belong to another ABI (x32) and are refused. */
  abiLimit: number;
  clone: number;
  clone3: number;
  numbers: Record<Denied, number>;
}

// From the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h).
const X86_64: ArchTable = {
  audit: 0xc000003e, abiLimit: 0x40000000, clone: 56, clone3: 435,
  numbers: {
    ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, pidfd_getfd: 438, unshare: 272, setns: 308, mount: 165,
    umount2: 166, pivot_root: 155, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
    mount_setattr: 442, keyctl: 250, add_key: 248, request_key: 249, bpf: 321, perf_event_open: 298, userfaultfd: 323,
    kexec_load: 246, init_module: 175, finit_module: 313, delete_module: 176, chroot: 161,
  },
};
const AARCH64: ArchTable = {
  audit: 0xc00000b7, abiLimit: 0x7fffffff, clone: 220, clone3: 435,
  numbers: {
    ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, pidfd_getfd: 438, unshare: 97, setns: 268, mount: 40,
    umount2: 39, pivot_root: 41, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
    mount_setattr: 442, keyctl: 219, add_key: 217, request_key: 218, bpf: 280, perf_event_open: 241, userfaultfd: 282,
    kexec_load: 104, init_module: 105, finit_module: 273, delete_module: 106, chroot: 51,
  },
};

export function archTable(arch: string = process.arch): ArchTable {
  if (arch === 'x64') return X86_64;
  if (arch === 'arm64') return AARCH64;
  throw new Error(`no seccomp policy for ${arch}: only x86_64 and aarch64`);
}

// Classic BPF opcodes (linux/filter.h, linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0 = 16; // low 32 bits of args[0] (little-endian)

interface Insn { code: number; jt: number; jf: number; k: number }

/** The policy as a classic BPF program (struct sock_filter[]), ready for bubblewrap's --seccomp FD. */
export function seccompBpf(arch: string = process.arch): Buffer {
  const t = archTable(arch);
  const prog: Insn[] = [];
  const op = (code: number, k: number, jt = 0, jf = 0): void => {
    prog.push({ code, jt, jf, k });
  };
  op(LD_W_ABS, OFF_ARCH);
  op(JEQ_K, t.audit, 1, 0);
  op(RET_K, RET_KILL_PROCESS); // another architecture's syscalls: never
  op(LD_W_ABS, OFF_NR);
  op(JGE_K, t.abiLimit, 0, 1);
  op(RET_K, RET_ERRNO | EPERM); // x32 ABI
  for (const name of DENIED_SYSCALLS) {
    op(JEQ_K, t.numbers[name], 0, 1);
    op(RET_K, RET_ERRNO | EPERM);
  }
  // clone3 takes its flags in memory seccomp cannot read: ENOSYS, and libc falls back to clone.
  op(JEQ_K, t.clone3, 0, 1);
  op(RET_K, RET_ERRNO | ENOSYS);
  op(JEQ_K, t.clone, 0, 3);
  op(LD_W_ABS, OFF_ARG0);
  op(JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1);
  op(RET_K, RET_ERRNO | EPERM);
  op(RET_K, RET_ALLOW);
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(insn.jt, i * 8 + 2);
    out.writeUInt8(insn.jf, i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}

/** The same policy as a Docker seccomp profile (inlined into `--security-opt seccomp=`). */
export function dockerSeccompProfile(arch: string = process.arch): string {
  archTable(arch); // the same architectures as the BPF form
  const architectures = arch === 'x64' ? ['SCMP_ARCH_X86_64'] : ['SCMP_ARCH_AARCH64'];
  const flagBits = Array.from({ length: 32 }, (_, b) => 2 ** b).filter((bit) => (CLONE_NAMESPACE_FLAGS & bit) !== 0);
  return JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures,
    syscalls: [
      { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      ...flagBits.map((bit) => ({
        names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM,
        args: [{ index: 0, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
    ],
  });
}

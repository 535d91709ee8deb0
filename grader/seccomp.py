"""The seccomp filter every sandboxed process runs under: the kernel interfaces it may not use.

Owns: the classic-BPF program (``seccomp_program``) that bubblewrap installs before the harness
starts, and ``SeccompFile``, the anonymous file bwrap reads it from. It guarantees, on x86_64
(elsewhere there is no filter and the module says so by returning None):

- no new namespaces, mounts, tracing (``ptrace``, ``process_vm_*``, ``pidfd_getfd``, ``kcmp``),
  keyrings, BPF, io_uring, perf events, kernel modules, clock or swap changes, terminal injection
  (TIOCSTI): interfaces student code never needs and that widen what a kernel bug could expose
  (the spirit of Docker's default profile);
- no memory that outlives or escapes the process limits: SysV shared memory, semaphores and
  message queues and POSIX message queues (objects of the sandbox's IPC namespace that survive
  the process that made them, and that one exercise could leave for the next), ``memfd_create``
  and ``memfd_secret`` (anonymous files, counted by no rlimit but the file size);
- a foreign system-call ABI (x32, 32-bit) kills the process.
Denied calls fail with EPERM (clone3 with ENOSYS, so libc falls back to clone, whose namespace
flags are then checked).
"""

from __future__ import annotations

import os
import struct

# Kernel interfaces student code never needs and that widen what a kernel bug could expose
# (the spirit of Docker's default profile): new namespaces (nested user namespaces above all),
# mounts, tracing, keyrings, BPF, io_uring, perf, modules, clocks, swap, reboot. x86_64 numbers.
_DENIED_SYSCALLS_X86_64 = {
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "userfaultfd": 323,
    "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
    "quotactl": 179, "syslog": 103, "vhangup": 153, "iopl": 172, "ioperm": 173,
    "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305,
    "sethostname": 170, "setdomainname": 171, "lookup_dcookie": 212, "uselib": 134,
    # Memory that outlives its process or escapes the rlimits (see the module docstring).
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65,
    "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245, "memfd_create": 319, "memfd_secret": 447,
    "fanotify_init": 300, "process_madvise": 440,
}  # fmt: skip
_CLONE, _CLONE3, _IOCTL = 56, 435, 16
_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_TIOCSTI = 0x5412
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000


def seccomp_program() -> bytes | None:
    """The classic-BPF seccomp filter bwrap installs before running the harness, or None on an
    architecture it is not written for. Denied calls fail with EPERM (clone3 with ENOSYS, so
    libc falls back to clone, whose namespace flags are then checked); a foreign syscall ABI
    kills the process."""
    import platform

    if platform.machine() != "x86_64":
        return None
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, _AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (load, 0, 0, 0),  # seccomp_data.nr
        (jge, 0, 1, _X32_SYSCALL_BIT),
        (ret, 0, 0, kill),
    ]
    for number in sorted(_DENIED_SYSCALLS_X86_64.values()):
        program += [(jeq, 0, 1, number), (ret, 0, 0, eperm)]
    program += [(jeq, 0, 1, _CLONE3), (ret, 0, 0, enosys)]
    program += [
        (jeq, 0, 4, _IOCTL),
        (load, 0, 0, 24),  # low half of args[1]: the request
        (jeq, 0, 1, _TIOCSTI),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
        (jeq, 0, 3, _CLONE),
        (load, 0, 0, 16),  # low half of args[0]: the flags
        (jset, 0, 1, _NAMESPACE_FLAGS),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in program)


class SeccompFile:
    """The seccomp program in an anonymous file, for bwrap's --seccomp FD (closed on exit).

    ``fd`` is None when there is no filter for this machine (or ``enabled`` is False); pass
    ``pass_fds`` to the child. bwrap reads the filter from the fd's offset: to start several
    sandboxes from one file, ``rewind()`` before each."""

    def __init__(self, *, enabled: bool = True):
        program = seccomp_program() if enabled else None
        self.fd = None
        if program is not None:
            self.fd = os.memfd_create("grader-seccomp")
            os.write(self.fd, program)
            os.lseek(self.fd, 0, os.SEEK_SET)
        self.pass_fds = () if self.fd is None else (self.fd,)

    def rewind(self) -> None:
        if self.fd is not None:
            os.lseek(self.fd, 0, os.SEEK_SET)

    def __enter__(self) -> SeccompFile:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            os.close(self.fd)

"""The seccomp filter of local sandboxes, compiled to BPF by libseccomp (through ctypes) for `bwrap --seccomp`.

Everything is allowed except the system calls an escape or an attack on the kernel starts from: mounting and
pivoting, loading kernels and modules, BPF, ptrace and reading other processes' memory, the kernel keyring,
new user namespaces (unshare or clone with CLONE_NEWUSER; clone3, whose flags a filter cannot read, answers
ENOSYS so that libc falls back to clone), perf events, file handles, and the clock, swap, reboot and accounting
calls. Denied calls fail with EPERM (clone3 with ENOSYS) instead of killing the process, so tools see an
ordinary error. Syscalls of another architecture (the 32-bit ABI on x86-64) kill the process: libseccomp's
default for a foreign architecture.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os

from sandbox.base import SandboxError

DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "setns",
    "perf_event_open", "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "syslog",
    "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "quotactl",
    "lookup_dcookie", "userfaultfd", "uselib", "vhangup", "kcmp", "pidfd_getfd",
)  # fmt: skip
"""Refused outright with EPERM (names this kernel's architecture lacks are skipped)."""

CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
"""Pushing input into a terminal (a classic way out of a sandbox that shares one)."""

_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_CMP_MASKED_EQ = 7


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        library = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SandboxError(f"libseccomp is not installed ({exc}): install libseccomp2") from exc
    library.seccomp_init.restype = ctypes.c_void_p
    library.seccomp_init.argtypes = [ctypes.c_uint32]
    library.seccomp_release.argtypes = [ctypes.c_void_p]
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    library.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    library.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return library


def _errno_action(code: int) -> int:
    return _ACT_ERRNO | (code & 0xFFFF)


@functools.cache
def filter_program() -> bytes:
    """The compiled BPF program (built once per process)."""
    library = _library()
    context = library.seccomp_init(_ACT_ALLOW)
    if not context:
        raise SandboxError("libseccomp could not start a filter")
    try:

        def rule(name: str, action: int, *comparisons: _ArgCmp) -> None:
            number = library.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                return  # not a system call of this architecture
            array = (_ArgCmp * len(comparisons))(*comparisons) if comparisons else None
            result = library.seccomp_rule_add_array(context, action, number, len(comparisons), array)
            if result < 0:
                raise SandboxError(f"libseccomp refused the rule for {name}: {os.strerror(-result)}")

        for name in DENIED:
            rule(name, _errno_action(errno.EPERM))
        new_user = _ArgCmp(0, _CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        rule("unshare", _errno_action(errno.EPERM), new_user)
        rule("clone", _errno_action(errno.EPERM), new_user)
        rule("clone3", _errno_action(errno.ENOSYS))
        rule("ioctl", _errno_action(errno.EPERM), _ArgCmp(1, _CMP_MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        return _export(library, context)
    finally:
        library.seccomp_release(context)


def _export(library: ctypes.CDLL, context: int) -> bytes:
    descriptor = os.memfd_create("seccomp-export")
    try:
        result = library.seccomp_export_bpf(context, descriptor)
        if result < 0:
            raise SandboxError(f"libseccomp could not export the filter: {os.strerror(-result)}")
        os.lseek(descriptor, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(descriptor, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def filter_fd() -> int:
    """A new file descriptor, positioned at the start, holding the program (bwrap reads it to the end)."""
    descriptor = os.memfd_create("seccomp-filter")
    os.write(descriptor, filter_program())
    os.lseek(descriptor, 0, os.SEEK_SET)
    return descriptor

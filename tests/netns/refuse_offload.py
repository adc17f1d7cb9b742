#!/usr/bin/env python3
"""refuse_offload.py MASK PROGRAM [ARGS...]: run PROGRAM as a kernel that refuses TUN offloads.

A seccomp filter makes every ioctl(fd, TUNSETOFFLOAD, flags) whose flags share a bit with MASK
fail with EINVAL, as a kernel without those offloads answers (USO, 0x60, came in Linux 6.2);
everything else is allowed. The filter is inherited across exec, so the program itself meets
the refusal. x86-64 only. Used by tests/netns/19-offloads-refused.sh.
"""
import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
NR_IOCTL = 16
TUNSETOFFLOAD = 0x400454D0
RET_ALLOW = 0x7FFF0000
RET_EINVAL = 0x00050000 | 22

LD_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
JEQ = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
JSET = 0x45     # BPF_JMP | BPF_JSET | BPF_K
RET = 0x06      # BPF_RET | BPF_K


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: refuse_offload.py MASK PROGRAM [ARGS...]")
    mask = int(sys.argv[1], 0)
    # struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i (low 32 bits first).
    prog = b"".join([
        insn(LD_ABS, 0, 0, 4),
        insn(JEQ, 0, 6, AUDIT_ARCH_X86_64),   # another ABI: allow (jump to 8)
        insn(LD_ABS, 0, 0, 0),
        insn(JEQ, 0, 4, NR_IOCTL),
        insn(LD_ABS, 0, 0, 24),
        insn(JEQ, 0, 2, TUNSETOFFLOAD),
        insn(LD_ABS, 0, 0, 32),
        insn(JSET, 1, 0, mask),               # a refused bit: EINVAL (9), else allow (8)
        insn(RET, 0, 0, RET_ALLOW),
        insn(RET, 0, 0, RET_EINVAL),
    ])
    buf = ctypes.create_string_buffer(prog, len(prog))
    # struct sock_fprog: the instruction count (16 bits), 6 bytes of padding, the pointer.
    fprog = struct.pack("HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("prctl(NO_NEW_PRIVS): " + os.strerror(ctypes.get_errno()))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
        sys.exit("prctl(SECCOMP): " + os.strerror(ctypes.get_errno()))
    os.execv(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()

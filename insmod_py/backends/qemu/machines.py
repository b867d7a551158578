"""Per-machine facts of the qemu backend, in one table (to fold into ``insmod_py/arch/``).

Why each value:

* ``-cpu pentium2``: a CPU the 2.4 i386 kernel (built for the 686) knows; TCG, no KVM
  (2.4 under this host's KVM did not boot).
* ``-cpu qemu64,vendor=GenuineIntel``: the default qemu64 is an AMD CPU, for which qemu
  adds an e820 entry near 1 TB; 2.4 x86_64 direct-maps up to the highest entry and
  panics "Cannot find space for the kernel page tables".
* ``nmi_watchdog=0``: x86_64 2.4 otherwise tests the NMI watchdog at boot (it "appears
  stuck" under TCG), which costs boot time and nothing else.
* The agent's gcc flags: static, no libc, no PIE (2.4's ELF loader knows ET_EXEC only),
  no stack protector or CET (no TLS and no such instructions in 2.4), one LOAD segment per
  permission without the 4 KB-separated code layout of newer binutils;
  ``-mgeneral-regs-only``: the 2.4 x86_64 kernel need not save SSE state for it.
"""

from __future__ import annotations

from dataclasses import dataclass

AGENT_COMMON_CFLAGS: tuple[str, ...] = (
    "-static",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-pie",
    "-no-pie",
    "-fno-stack-protector",
    "-fcf-protection=none",
    "-fno-asynchronous-unwind-tables",
    "-fno-tree-loop-distribute-patterns",
    "-Os",
    "-Wall",
    "-Wl,--build-id=none",
    "-Wl,-z,noseparate-code",
    "-Wl,-z,norelro",
)


@dataclass(frozen=True)
class QemuMachine:
    """How to boot a 2.4 kernel of one architecture and build its guest agent."""

    arch: str
    qemu: str  # the qemu system emulator
    cpu: str
    append: str  # kernel command line beyond what every machine gets
    agent_cflags: tuple[str, ...]  # beyond AGENT_COMMON_CFLAGS
    agent_header: str  # kernel24/agent/<this>: system call numbers and entry code
    word_size: int
    apt_package: str = "qemu-system-x86"


QEMU_MACHINES: dict[str, QemuMachine] = {
    "i386": QemuMachine(
        arch="i386",
        qemu="qemu-system-i386",
        cpu="pentium2",
        append="",
        agent_cflags=("-m32",),
        agent_header="sys-i386.h",
        word_size=4,
    ),
    "x86_64": QemuMachine(
        arch="x86_64",
        qemu="qemu-system-x86_64",
        cpu="qemu64,vendor=GenuineIntel",
        append="nmi_watchdog=0",
        agent_cflags=("-m64", "-mgeneral-regs-only"),
        agent_header="sys-x86_64.h",
        word_size=8,
    ),
}

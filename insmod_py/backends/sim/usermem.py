"""The simulated process's memory: the buffers a read, write or ioctl hands to a driver.

Each buffer gets pages of its own at ``USER_BASE`` and up, its data ending
where its last page ends, with an unmapped page after it: a driver that
copies past the end of what the caller gave it gets ``-EFAULT`` (or faults
into its ``__ex_table`` fixup), as it would on a real kernel whose user
process had nothing mapped there.  The emulator maps the pages for one run
and copies them back afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE = 0x1000
USER_BASE = 0x00800000  # below PAGE_OFFSET on both machines


@dataclass
class UserMemory:
    """Pages of the simulated process: page address -> contents."""

    pages: dict[int, bytearray] = field(default_factory=dict)
    next_page: int = USER_BASE

    def alloc(self, data: bytes = b"", size: int | None = None) -> int:
        """Map a buffer holding ``data`` (padded with zeros to ``size``); its address."""
        size = len(data) if size is None else max(size, len(data))
        npages = max(1, -(-size // PAGE))
        start = self.next_page
        for i in range(npages):
            self.pages[start + i * PAGE] = bytearray(PAGE)
        self.next_page = start + (npages + 1) * PAGE  # one unmapped page after it
        addr = start + npages * PAGE - size
        self.write(addr, data.ljust(size, b"\0"))
        return addr

    def write(self, addr: int, data: bytes) -> None:
        for i, b in enumerate(data):
            page = self.pages[(addr + i) & ~(PAGE - 1)]
            page[(addr + i) % PAGE] = b

    def read(self, addr: int, size: int) -> bytes:
        out = bytearray()
        for i in range(size):
            out.append(self.pages[(addr + i) & ~(PAGE - 1)][(addr + i) % PAGE])
        return bytes(out)

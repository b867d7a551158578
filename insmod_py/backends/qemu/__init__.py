"""A real Linux 2.4 kernel under qemu: ``vm.py`` keeps the VM, ``protocol.py`` talks to
the guest agent (kernel24/agent/), ``backend.py`` is the Backend protocol over it."""

from .backend import QemuBackend

__all__ = ["QemuBackend"]

"""Backends: where a linked image goes (a simulated 2.4 kernel, or real syscalls)."""

"""Helpers shared by the tests (not tests themselves): object builders, the CLI runner,
the C accelerator check."""

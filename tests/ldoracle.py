"""GNU ld as the oracle: moved to :mod:`insmod_py.oracle` (shared with the corpus run).

Kept as a re-export so the tests importing ``ldoracle`` keep working.
"""

from insmod_py.oracle import (
    LD_FLAGS,
    OracleError,
    OracleResult,
    compare_with_ld,
    linker_script,
    oracle_copy,
)

__all__ = [
    "LD_FLAGS",
    "OracleError",
    "OracleResult",
    "compare_with_ld",
    "linker_script",
    "oracle_copy",
]

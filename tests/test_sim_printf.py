"""The simulated kernel's printf follows 2.4's lib/vsprintf.c, checked exhaustively.

Where 2.4 and C99 agree, Python's %-operator is the oracle; where 2.4 differs
(``%p``, ``%#o``, ``%s`` of NULL, unknown conversions), the expected strings
are written out.
"""

from __future__ import annotations

import itertools

import pytest

from insmod_py.backends.sim.printf import ArgSource, vsprintf
from insmod_py.backends.sim.services import KernelRuntime, log_text

STRINGS = {0x1000: b"hello", 0x2000: b"", 0x3000: b"x" * 100}


def fmt(f: str, *args, bits: int = 32) -> str:
    """Format with integer args; a str argument is placed in a fake guest memory."""
    values, memory = [], dict(STRINGS)
    for a in args:
        if isinstance(a, str):
            addr = 0x9000 + 0x100 * len(memory)
            memory[addr] = a.encode()
            values.append(addr)
        else:
            values.append(a)
    it = iter(values)

    def next_int(nbits: int) -> int:
        if nbits > bits:  # i386 long long: two words, low first
            lo, hi = next(it) & 0xFFFFFFFF, next(it) & 0xFFFFFFFF
            return lo | hi << 32
        return next(it) & ((1 << nbits) - 1)

    def read_string(addr: int, limit: int) -> bytes | None:
        s = memory.get(addr)
        return None if s is None else s[:limit]

    return vsprintf(f.encode(), ArgSource(next_int, read_string, bits)).decode()


VALUES = [0, 1, -1, 7, 42, -42, 255, 4096, 123456789, 2**31 - 1, -(2**31)]
WIDTHS = ["", "1", "5", "12"]
PRECISIONS = ["", ".0", ".3", ".8"]


def _specs(flagchars: str, convs: str):
    flagsets = ["".join(c) for n in range(3) for c in itertools.combinations(flagchars, n)]
    for flags, width, prec, conv in itertools.product(flagsets, WIDTHS, PRECISIONS, convs):
        yield f"%{flags}{width}{prec}{conv}"


@pytest.mark.parametrize("spec", list(_specs("-0+ ", "di")))
def test_signed_conversions_match_c(spec):
    for v in VALUES:
        assert fmt(spec, v) == spec % v, (spec, v)


@pytest.mark.parametrize("spec", list(_specs("-0#", "xX")) + list(_specs("-0", "uo")))
def test_unsigned_conversions_match_c(spec):
    for v in VALUES:
        u = v & 0xFFFFFFFF
        assert fmt(spec, v) == spec.replace("u", "d") % u, (spec, v)


@pytest.mark.parametrize("spec", ["%s", "%8s", "%-8s", "%.3s", "%8.3s", "%-8.3s", "%.0s", "%1s"])
def test_strings_with_width_and_precision(spec):
    for s in ["hello", "", "a longer string"]:
        assert fmt(spec, s) == spec % s


@pytest.mark.parametrize("spec", ["%c", "%3c", "%-3c", "%1c"])
def test_chars(spec):
    for v in (65, 0x7A, 0x141):  # the int is truncated to unsigned char
        assert fmt(spec, v) == spec % chr(v & 0xFF)


def test_long_and_long_long_on_i386():
    assert fmt("%ld %lu %lx %li", -5, -5, -5, 2**31) == "-5 4294967291 fffffffb -2147483648"
    assert fmt("%lld|%llu|%llx", -5, -1, -1, -1, 0x12345678, 0x9) == (
        "-5|18446744073709551615|912345678"
    )
    assert fmt("%Ld", 0, 1) == str(1 << 32)


def test_long_on_x86_64_is_64_bits_and_int_is_32():
    assert fmt("%ld %d %lx %x", -5, 2**32 + 3, 2**40, 2**40 + 1, bits=64) == ("-5 3 10000000000 1")
    assert fmt("%lld %llu", -1, 2**64 - 1, bits=64) == "-1 18446744073709551615"


def test_short_qualifier():
    assert fmt("%hd %hu %hx", 0x18000, -1, 0x12345) == "-32768 65535 2345"


def test_pointer_is_zero_padded_hex_of_the_word():
    assert fmt("%p", 0xC8800010) == "c8800010"
    assert fmt("%p", 0x10) == "00000010"
    assert fmt("%p", 0xFFFFFFFFA0000000, bits=64) == "ffffffffa0000000"
    assert fmt("%p", 0x10, bits=64) == "0000000000000010"
    assert fmt("%12p|%-12p", 0x10, 0x10) == "          10|10          "


def test_percent_and_unknown_conversions():
    assert fmt("100%%") == "100%"
    assert fmt("%y%d", 3) == "%y3"
    assert fmt("end %") == "end %"


def test_special_octal_and_zero_hex_as_2_4_printed_them():
    assert fmt("%#o %#o %#x %#X", 8, 0, 0, 255) == "010 00 0x0 0XFF"
    assert fmt("%#08x", 255) == "0x0000ff"


def test_star_width_and_precision_come_from_arguments():
    assert fmt("%*d|%-*d|%*d", 5, 42, 4, 7, -4, 7) == "   42|7   |7   "
    assert fmt("%.*s|%.*d", 2, "hello", -1, 5) == "he|5"


def test_strings_null_unmapped_and_truncated():
    assert fmt("%s", 0) == "<NULL>"
    assert fmt("%.2s", 0) == "<N"
    assert fmt("[%s]", 0x5000) == "[(efault)]"
    assert fmt("%s|%s", 0x1000, 0x2000) == "hello|"


def test_format_ends_at_nul():
    assert vsprintf(b"ab\0cd%d", ArgSource(lambda n: 0, lambda a, n: None, 32)) == b"ab"


def test_percent_n_writes_the_count_so_far():
    written = {}
    args = iter([0x100])
    src = ArgSource(
        next_int=lambda n: next(args),
        read_string=lambda a, n: None,
        word_bits=32,
        write_int=lambda a, v, size: written.update({a: (v, size)}),
    )
    assert vsprintf(b"abc%n!", src) == b"abc!"
    assert written == {0x100: (3, 4)}


def test_printk_levels_default_and_continuation():
    rt = KernelRuntime()
    log_text(rt, b"<6>one\ntwo\n<7>three")
    assert rt.log == ["<6>one", "<4>two"]
    log_text(rt, b" more <3>x\n\n")
    assert rt.log == ["<6>one", "<4>two", "<7>three more <3>x", "<4>"]
    assert rt.pending == ""
    log_text(rt, b"<9>bad level\n")
    assert rt.log[-1] == "<4><9>bad level"

"""params.py: MODULE_PARM types and ``name=value`` arguments, as modutils 2.4 checked them."""

from __future__ import annotations

import pytest

from insmod_py.errors import UsageError
from insmod_py.params import ParamType, parse_assignment, parse_type, split_arguments

DECLARED = {
    "b": "b", "h": "h", "i": "i", "l": "l", "s": "s", "c": "c8",
    "a": "1-4i", "two": "2i", "hs": "2-3h", "strs": "1-2s",
}  # fmt: skip


def value(arg: str, word: int = 4) -> bytes:
    return parse_assignment(arg, DECLARED, word).data


def ints(data: bytes, size: int) -> list[int]:
    return [int.from_bytes(data[i : i + size], "little") for i in range(0, len(data), size)]


# -- types -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "word", "expected"),
    [
        ("b", 4, ParamType(1, 1, "b", 1)),
        ("h", 4, ParamType(1, 1, "h", 2)),
        ("i", 8, ParamType(1, 1, "i", 4)),
        ("l", 4, ParamType(1, 1, "l", 4)),
        ("l", 8, ParamType(1, 1, "l", 8)),
        ("s", 8, ParamType(1, 1, "s", 8)),
        ("c16", 4, ParamType(1, 1, "c", 16)),
        ("1-4i", 4, ParamType(1, 4, "i", 4)),
        ("3h", 4, ParamType(3, 3, "h", 2)),
        ("2-5c4", 4, ParamType(2, 5, "c", 4)),
    ],
)
def test_type_grammar_gives_range_kind_and_element_size(spec, word, expected) -> None:
    assert parse_type("x", spec, word) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("q", "unknown parameter type 'q' for x"),
        ("c", "parameter type 'c' for x must be followed by the maximum size"),
        ("c0", "must be followed by the maximum size"),
        ("4-2i", "bad element range"),
        ("i4", "invalid parameter type"),
    ],
)
def test_bad_types_are_one_clear_error(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_type("x", spec, 4)


def test_describe_names_kind_and_count() -> None:
    assert parse_type("a", "1-4i", 4).describe() == "int x 1-4"
    assert parse_type("c", "c16", 4).describe() == "char array[16]"


# -- numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arg", "size", "expected"),
    [
        ("b=7", 1, [7]),
        ("b=255", 1, [255]),
        ("b=-1", 1, [0xFF]),
        ("h=-7", 2, [0xFFF9]),
        ("h=0x7fff", 2, [0x7FFF]),
        ("i=42", 4, [42]),
        ("i=0x2A", 4, [42]),
        ("i=052", 4, [42]),  # a leading 0 is octal, as strtoul(p, &p, 0)
        ("i=0", 4, [0]),
        ("i=-2147483648", 4, [0x80000000]),
        ("i=4294967295", 4, [0xFFFFFFFF]),
        ("l=0xffffffff", 4, [0xFFFFFFFF]),
        ("a=1,2,3,4", 4, [1, 2, 3, 4]),
        ("a= 5 , 6", 4, [5, 6]),  # whitespace around commas is skipped
        ("two=0x10,010", 4, [16, 8]),
        ("hs=1,-1,3", 2, [1, 0xFFFF, 3]),
    ],
)
def test_numbers_are_stored_little_endian_in_their_element_size(arg, size, expected) -> None:
    assert ints(value(arg), size) == expected


def test_long_is_a_word_on_x86_64() -> None:
    assert ints(value("l=0x123456789", word=8), 8) == [0x123456789]


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("b=256", "value 256 out of range for b (byte)"),
        ("b=-129", "out of range for b"),
        ("h=65536", "out of range for h (short)"),
        ("i=0x100000000", "out of range for i (int)"),
        ("l=0x100000000", "out of range for l (long)"),
        ("i=12abc", "invalid value '12abc' for i (int)"),
        ("i=08", "invalid value '08' for i"),  # 8 is not an octal digit
        ("i=0x", "invalid value '0x' for i"),
        ("i=", "invalid value '' for i"),
        ("a=1,2,3,4,5", "too many values for a (max 4)"),
        ("i=1,2", "too many values for i (max 1)"),
        ("two=1", "too few values for two (min 2)"),
        ("hs=1", "too few values for hs (min 2)"),
        ("nosuch=1", "invalid parameter nosuch"),
        ("i", "parameter i needs a value"),
        ("s", "parameter s needs a value"),
    ],
)
def test_bad_values_are_one_error_naming_the_parameter(arg: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_assignment(arg, DECLARED, 4)


def test_bare_byte_parameter_means_1() -> None:
    assert value("b") == b"\x01"


# -- strings ---------------------------------------------------------------------------------
def test_string_parameter_keeps_a_nul_terminated_copy() -> None:
    a = parse_assignment("s=hello", DECLARED, 4)
    assert a.strings == (b"hello\0",) and a.data == b""


def test_string_list_splits_on_commas_outside_quotes() -> None:
    a = parse_assignment('strs="a,b",c', DECLARED, 4)
    assert a.strings == (b"a,b\0", b"c\0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"tab\there"', b"tab\there"),
        (r'"nl\n"', b"nl\n"),
        (r'"esc\e"', b"esc\x1b"),
        (r'"bell\a\b\f\r"', b"bell\a\b\f\r"),
        (r'"oct\101\1022"', b"octAB2"),  # \ooo takes at most three digits
        (r'"quote\"in"', b'quote"in'),
        (r'"back\\slash"', b"back\\slash"),
        ('"two words"', b"two words"),
        ("un\\quoted", b"un\\quoted"),  # escapes only inside quotes
    ],
)
def test_quoted_strings_take_c_escapes(text: str, expected: bytes) -> None:
    assert parse_assignment(f"s={text}", DECLARED, 4).strings == (expected + b"\0",)


def test_unterminated_quote_is_an_error() -> None:
    with pytest.raises(UsageError, match="unterminated string for s"):
        parse_assignment('s="open', DECLARED, 4)


def test_char_array_is_padded_to_its_size() -> None:
    assert value("c=abc") == b"abc" + b"\0" * 5


def test_char_array_must_leave_room_for_the_nul() -> None:
    assert value("c=1234567") == b"1234567\0"
    with pytest.raises(UsageError, match=r"string too long for c \(max 7\)"):
        parse_assignment("c=12345678", DECLARED, 4)


# -- the argument string ---------------------------------------------------------------------
def test_module_without_module_parm_gets_only_the_raw_string() -> None:
    assert split_arguments(("x=1", "anything"), {}, 4) == ("x=1 anything", [])


def test_module_without_module_parm_or_module_args_refuses_every_argument() -> None:
    """Nothing would read them: modutils called each an invalid parameter (exit 1)."""
    with pytest.raises(UsageError) as err:
        split_arguments(("param=5", "other"), {}, 4, raw_ok=False)
    assert str(err.value) == (
        "invalid parameters param, other (the module declares no MODULE_PARM)"
    )
    assert err.value.exit_code == 1
    assert split_arguments((), {}, 4, raw_ok=False) == ("", [])


def test_module_with_module_parm_gets_both() -> None:
    raw, params = split_arguments(("i=5", "b"), DECLARED, 4)
    assert raw == "i=5 b" and [p.name for p in params] == ["i", "b"]


def test_every_argument_of_a_module_with_module_parm_must_be_a_parameter() -> None:
    with pytest.raises(UsageError, match="invalid parameter anything"):
        split_arguments(("i=5", "anything"), DECLARED, 4)

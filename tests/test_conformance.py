"""The conformance corpus (bench/conformance/) against the protocol core, in-process: the corpus
is large, its cases named and ruled by RFC 9110/9112, and every case gets its expected outcome
whole, a byte at a time and in random splits."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.conformance import CASES, CLASSES, Incomplete, Refused, Served
from bench.conformance.core import Result, feeds, run, table

RULE = re.compile(r"RFC (9110|9112) §\d+(\.\d+)*")
# Cases the core still fails, by the fault each shows; emptied one fault class at a time.
# Cases the core fails, each with the rule it breaks: none now. The last, "Transfer-Encoding
# chunked with a tab after it" (llhttp refuses chunked<HTAB>), is mended in servers/wire.py.
KNOWN_FAULTS: set[str] = set()


@pytest.fixture(scope="module")
def results() -> list[Result]:
    return run(CASES)


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CASES) >= 250
    names = Counter(case.name for case in CASES)
    assert [name for name, count in names.items() if count > 1] == []


def test_every_class_is_covered() -> None:
    per_class = Counter(case.cls for case in CASES)
    assert set(per_class) == set(CLASSES)
    assert min(per_class.values()) >= 25, per_class


def test_every_case_cites_its_rule_and_expects_something() -> None:
    for case in CASES:
        assert RULE.search(case.rule), f"{case.name}: {case.rule}"
        assert case.expected, case.name
        # a refusal or a request cut short ends the stream: nothing may follow them
        assert all(not isinstance(o, Refused | Incomplete) for o in case.expected[:-1]), case.name


def test_the_corpus_covers_what_python_servers_got_wrong() -> None:
    names = " ".join(case.name for case in CASES)
    for shape in (
        "0x",
        "_",
        "+",
        "-",
        "NUL",
        "empty name",
        ",chunked",
        "leading empty list",
        "NBSP",
        "protocol name",
        "version",
        "valid request then",
    ):
        assert shape in names or any(shape in case.rule for case in CASES), shape


def test_feeds_cut_the_same_stream() -> None:
    for reads in feeds(b"GET / HTTP/1.1\r\n\r\n").values():
        assert b"".join(reads) == b"GET / HTTP/1.1\r\n\r\n"


def test_every_case_passes_against_the_core(results: list[Result]) -> None:
    failed = [result for result in results if not result.passed]
    unexpected = [result.describe() for result in failed if result.case.name not in KNOWN_FAULTS]
    assert unexpected == [], "\n".join(unexpected)
    fixed = KNOWN_FAULTS - {result.case.name for result in failed}
    assert fixed == set(), f"fixed, take them off KNOWN_FAULTS: {sorted(fixed)}"


def test_the_table_counts_every_case(results: list[Result]) -> None:
    counts = table(results)
    assert sum(sum(row.values()) for row in counts.values()) == len(CASES)
    assert any(isinstance(o, Served) for case in CASES for o in case.expected)

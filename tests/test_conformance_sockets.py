"""The conformance corpus over sockets (bench/conformance/sockets.py): every production model
passes it, gives over the socket what the core gives in-process, and still serves afterwards;
`python -m bench conformance` prints and stores the table, and names a peer not installed.

The projections of a case through an interface (WSGI, ASGI) and the reading of answers into
outcomes are checked first, on known answers, without a server."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from bench.catalog import PY
from bench.conformance import CLASSES, Case, Continue, Incomplete, Refused, Served
from bench.conformance.cases import REQUEST_LINE, get
from bench.conformance.core import Result
from bench.conformance.sockets import FEED, Answered, Closed, View, against_core, outcomes
from bench.http1 import parse_responses
from bench.report import draw
from bench.report import main as report_main
from bench.run import Session
from bench.scenarios import conformance as scenario
from tests.synthetic import cell
from tests.synthetic import run as make_run
from tests.test_conformance import KNOWN_FAULTS

# the module's fixture measures every model once: its tests stay on one pytest-xdist worker
pytestmark = pytest.mark.xdist_group("conformance_sockets")
MODELS = ("asyncio", "asyncio-stdlib", "threaded", "prefork", "fork_reap")
BOUND = 5.0  # generous under a loaded suite: our models answer 408 after 1 s, whatever it is
DECOY = Case(
    "decoy: a plain GET expected refused",
    "RFC 9112 §3 (not a rule: the driver must report it failed)",
    REQUEST_LINE,
    get(),
    (Refused(400),),
)


# the views and the outcomes, on known answers -------------------------------------------------

SENT = Served(
    "POST",
    b"/a%20b?x=%26",
    (
        (b"Host", b"h"),
        (b"X-A", b"1"),
        (b"x-a", b"2, 3"),
        (b"X_B", b"hidden"),
        (b"Cookie", b"c=1"),
        (b"Cookie", b"d=2"),
        (b"Content-Length", b"3"),
    ),
    b"abc",
)


def test_wsgi_shows_decoded_paths_and_joined_keys_without_the_framing() -> None:
    case = Case("c", "RFC 9112 §3", REQUEST_LINE, b"", (SENT,))
    view = View("wsgi", "decoded")
    seen = view.served(SENT, view.hidden(case))
    assert seen.target == b"/a b?x=%26"
    assert seen.headers == (
        (b"HTTP_COOKIE", b"c=1,d=2"),
        (b"HTTP_HOST", b"h"),
        (b"HTTP_X_A", b"1,2,3"),
    )
    assert View("wsgi", "raw").served(SENT).target == b"/a%20b?x=%26"


def test_asgi_shows_raw_paths_and_lines_in_order() -> None:
    seen = View("asgi", "raw-path").served(replace(SENT, target=b"http://a.example:81/p%2F?q"))
    assert seen.target == b"/p%2F?q"
    assert [name for name, _ in seen.headers] == [
        b"host",
        b"x-a",
        b"x-a",
        b"x_b",
        b"cookie",
        b"cookie",
        b"content-length",
    ]


def test_a_server_of_one_request_per_connection_is_expected_to_close_after_the_first() -> None:
    second = Served("GET", b"/2", ((b"Host", b"h"),))
    case = Case("c", "RFC 9112 §9.3", REQUEST_LINE, b"", (SENT, second, Refused(400)))
    first = View("asgi", "raw-path", per_connection=True).expected(case)
    assert len(first) == 1 and isinstance(first[0], Served) and first[0].close
    interim = replace(case, expected=(Continue(), SENT))
    assert [type(o) for o in View("asgi", "raw-path", True).expected(interim)] == [
        Continue,
        Served,
    ]


def test_answers_become_outcomes() -> None:
    view, hidden = View("wsgi", "decoded"), frozenset[bytes]()
    answers = parse_responses(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    )
    assert outcomes(answers, "closed", view, hidden) == (Continue(), Refused(400, close=True))
    assert outcomes(answers[:1], "silent", view, hidden) == (Continue(), Incomplete())
    assert outcomes([], "closed", view, hidden) == (Closed(),)
    timeout = parse_responses(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
    assert outcomes(timeout, "closed", view, hidden) == (Incomplete(),)
    moved = parse_responses(b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n")
    assert outcomes(moved, "open", view, hidden) == (Answered(301, close=False),)


# every production model, over sockets ---------------------------------------------------------


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each model's entry of conformance.json for the corpus and the decoy, the models measured
    side by side (each its own server and connections)."""
    session = Session(tmp_path_factory.mktemp("conformance"), scenario.catalog())
    cases, _ = scenario.runnable()

    def one(name: str) -> dict:
        spec = session.catalog.servers[name]
        return scenario.measure(spec, [*cases, DECOY], BOUND, session)

    with ThreadPoolExecutor(len(MODELS)) as pool:
        return dict(zip(MODELS, pool.map(one, MODELS), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_every_model_passes_the_corpus_over_sockets(measured: dict, model: str) -> None:
    entry = measured[model]
    assert not entry.get("error"), entry.get("error")
    failed = {failure["case"]: failure for failure in entry["failures"]}
    assert DECOY.name in failed, "the driver let a wrong expectation pass"
    assert failed[DECOY.name]["came"].startswith("served GET b'/'"), failed[DECOY.name]
    unexpected = [
        f"{f['case']}: expected {f['expected']}; came {f['came']}"
        for name, f in failed.items()
        if name not in KNOWN_FAULTS and name != DECOY.name
    ]
    assert unexpected == [], "\n".join(unexpected)
    assert sum(entry["passed"].values()) >= len(scenario.runnable()[0]) - len(KNOWN_FAULTS)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_every_model_gives_over_the_socket_what_the_core_gives(measured: dict, model: str) -> None:
    """Whatever a case expects, a driver adds nothing to the core: the same messages, refusals
    and closes as the core fed the same bytes whole (the decoy included)."""
    differences = measured[model]["differs_from_core"]
    assert differences == [], "\n".join(
        f"{d['case']}: core {d['core']}; socket {d['came']}" for d in differences
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_every_model_still_serves_after_the_corpus(measured: dict, model: str) -> None:
    entry = measured[model]
    assert entry["still_serves"] and not entry.get("error")
    assert entry["interface"] == "wsgi" and entry["target"] == "raw"  # RAW_URI, as sent
    assert entry["per_connection"] == (model == "fork_reap")  # one request per child
    assert entry["cases_s"] < 30, "the corpus runs its cases side by side"


# the command -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_prints_and_stores_the_table_of_a_model_and_a_peer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = scenario.main(["--servers", "fork_reap,uvicorn", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0
    assert time.monotonic() - started < 40
    header = printed.splitlines()[0]
    assert header.startswith("| class (cases) | fork_reap | uvicorn |")
    document = json.loads((tmp_path / "conformance.json").read_text())
    total = sum(document["classes"].values())
    assert total == len(scenario.runnable()[0]) == document["cases"]
    assert set(document["classes"]) == set(CLASSES)
    ours, peer = document["servers"]
    assert (ours["name"], ours["kind"], peer["name"], peer["kind"]) == (
        "fork_reap",
        "ours",
        "uvicorn",
        "peer",
    )
    assert f"**{sum(ours['passed'].values())}/{total}**" in printed
    assert f"**{sum(peer['passed'].values())}/{total}**" in printed
    assert peer["failures"], "uvicorn fails some cases (it lets obs-fold through, for one)"
    for failure in peer["failures"][:5]:  # each failure printed, with what came
        assert f"- {failure['case']} ({failure['class']}): expected" in printed
    assert (tmp_path / "conformance.md").read_text() == printed
    assert report_main([str(tmp_path)]) == 0
    page = (tmp_path / "conformance.html").read_text()
    assert "<td>fork_reap</td>" not in page and "<th>fork_reap</th>" in page


def test_a_peer_not_installed_is_named_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    standard = scenario.catalog()
    gone = replace(standard.servers["granian"], peer_command=(PY, "-m", "granian_is_not_here"))
    monkeypatch.setattr(
        scenario,
        "catalog",
        lambda: type(standard)({**standard.servers, "granian": gone}, standard.workloads),
    )
    assert scenario.main(["--servers", "granian", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr()
    assert "not installed: **granian** (granian_is_not_here is not installed here" in printed.out
    document = json.loads((tmp_path / "conformance.json").read_text())
    assert document["servers"] == [] and "granian" in document["missing"]


def test_a_socket_outcome_unlike_the_cores_is_reported() -> None:
    case = Case("c", "RFC 9112 §3", REQUEST_LINE, get(), (Served("GET", b"/", ((b"Host", b"h"),)),))
    view = View("wsgi", "decoded")
    same = Result(case, {FEED: (view.served(case.expected[0]),)})
    other = Result(case, {FEED: (Refused(400, close=True),)})
    assert against_core([same, other], view) == [(other, (view.served(case.expected[0]),))]


def test_a_run_folder_with_the_table_shows_it_in_its_report(tmp_path: Path) -> None:
    document = {
        "kind": "conformance",
        "started": "2026-12-05T10:00:00+0000",
        "command": "python -m bench conformance --servers asyncio,granian",
        "cases": 2,
        "classes": {"request line": 2},
        "skipped": [],
        "missing": {"granian": "granian is not installed here"},
        "servers": [
            {
                "name": "asyncio",
                "kind": "ours",
                "interface": "wsgi",
                "target": "decoded",
                "per_connection": False,
                "seconds": 1.5,
                "cases_s": 0.5,
                "still_serves": True,
                "passed": {"request line": 1},
                "failures": [
                    {"case": "a <case>", "class": "request line", "expected": "400", "came": "200"}
                ],
                "differs_from_core": [],
            }
        ],
    }
    (tmp_path / "run.json").write_text(json.dumps(make_run([cell("asyncio", "hello", 1, 4000.0)])))
    (tmp_path / "conformance.json").write_text(json.dumps(document))
    page = draw(tmp_path).read_text()
    assert "<h2>Conformance: the corpus over sockets</h2>" in page
    assert "<td>1/2</td>" in page and "<td>WSGI, decoded path</td>" in page
    assert "a &lt;case&gt; (request line): expected 400; came 200" in page
    assert "not installed: granian (granian is not installed here)" in page

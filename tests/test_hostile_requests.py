"""Every hostile case (bench/scenarios/hostile_cases.py) against the production-style models over
real sockets: the answer the protocol core promises, the connection closed after an error, and the
server still serving the next client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.launch import ServerProcess
from bench.scenarios.hostile_cases import CASES, HEADER_TIMEOUT, Case, probe
from tests.conftest import KEEP_ALIVE_MODELS, PLAIN, launcher
from tests.http_helpers import request

pytestmark = pytest.mark.slow  # every test starts servers


@pytest.fixture(scope="module", params=KEEP_ALIVE_MODELS)
def server(request, tmp_path_factory) -> Iterator[ServerProcess]:
    """One server per model for all the cases: each case must leave it able to serve."""
    model = request.param
    with launcher(tmp_path_factory.mktemp(model)) as launch:
        yield launch(model, PLAIN, "--header-timeout", str(HEADER_TIMEOUT))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_gets_its_answer_and_the_server_goes_on(
    server: ServerProcess, case: Case
) -> None:
    answer = probe(server.port, case)
    assert (answer.status, answer.closed) == (case.status, case.closes), f"got {answer}"
    assert request(server.port, "GET", "/hello/")[2] == b"Hello, world!"
    assert server.popen is not None and server.popen.poll() is None

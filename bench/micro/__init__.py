"""pytest-benchmark micro-benchmarks: per-request and per-connection cost of every model and of
the protocol core. `nox -s micro` measures; the normal test suite runs them once each, with
--benchmark-disable, as correctness checks."""

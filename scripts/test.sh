#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run lint, types, a benchmark
# smoke run and the whole test suite (last, so its summary closes the output).
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages the tests run for real: Alertmanager receives the engine's alerts, Prometheus
# scrapes the server and promtool checks the exposition, curl drives the server end to end.
need=()
command -v prometheus-alertmanager > /dev/null || need+=(prometheus-alertmanager)
command -v prometheus > /dev/null || need+=(prometheus)
command -v promtool > /dev/null || need+=(prometheus)
command -v curl > /dev/null || need+=(curl)
# Chromium for the pages tested in a real browser (Playwright drives it; never `playwright install`)
command -v chromium > /dev/null || need+=(chromium)
if ((${#need[@]})); then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}" > /dev/null
fi
# Every test/dev dependency (and what builds the package) at the versions of the committed lock, so
# a new release upstream cannot change what CI runs; then the package itself, without resolving again.
python3 -m pip install --quiet -r requirements/test.lock
python3 -m pip install --quiet --no-deps --no-build-isolation -e .
python3 -m ruff check src tests bench
python3 -m ruff format --check src tests bench
python3 -m mypy src
# The benchmark suite must keep running (its figures are not judged here): a 10k-log smoke run.
smoke=$(mktemp -d)
if ! python3 -m bench.run --quick --output "$smoke/bench.md" > "$smoke/out" 2> "$smoke/err"; then
  cat "$smoke/out" "$smoke/err"
  echo "benchmark smoke run failed" >&2
  exit 1
fi
python3 -m pytest tests "$@"

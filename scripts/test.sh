#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run lint, types and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
python3 -m ruff check src tests bench
python3 -m ruff format --check src tests bench
python3 -m mypy src
python3 -m pytest tests "$@"
# The benchmark suite must keep running (its figures are not judged here): a 10k-log smoke run.
python3 -m bench.run --quick --output "$(mktemp -d)/bench-quick.md" > /dev/null

#!/bin/bash
# Install what is missing, build, run every test. Last line: N passed, N failed.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
make -s -j"$(nproc)" WERROR=1
exec ./tests/run.sh "$@"

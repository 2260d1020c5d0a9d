#!/usr/bin/env bash
# The test suite: setup (once), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
python -m pytest "$@"

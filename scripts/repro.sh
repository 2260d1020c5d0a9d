#!/usr/bin/env bash
# The main job: setup (once), then the whole DVC pipeline at the profile in params.yaml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
dvc repro "$@"
dvc metrics show

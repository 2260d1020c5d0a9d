#!/usr/bin/env bash
# The main job: setup (once), then the whole DVC pipeline at the profile in params.yaml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
start=$SECONDS
dvc repro "$@"
echo "dvc repro took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s (setup excluded)"
echo "Tables and figures: figures/06_tables/ (main.md, table1.md, table2.md, table3.md, timings.md)"
dvc metrics show metrics/tables.json

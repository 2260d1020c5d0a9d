# Sourced by the entry scripts: run setup (a no-op when done), then enter the environment.
bash "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/activate"
export PYOPENGL_PLATFORM=egl DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg

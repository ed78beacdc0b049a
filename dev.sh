#!/usr/bin/env bash
# Set-up and entry points. On a fresh machine with Python 3.12 (`python3.12`, or pyenv with
# this checkout's .python-version), each command creates .venv if needed, then:
#   bash dev.sh run     runs the main job: the multicentre course analysis, report in reports/multicentre
#   bash dev.sh test    runs the test suite (fast tests; `bash dev.sh test -m slow` for full runs)
#   bash dev.sh bench [NAME] [args]   runs benchmarks/NAME.py (default parameterization; never in CI),
#                       e.g. bash dev.sh bench course_models --with-r
set -euo pipefail
cd "$(dirname "$0")"

ensure_env() {
  local py="${PYTHON:-python3.12}"
  local stamp=.venv/.installed
  local want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $py ..." >&2
    "$py" -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing bayesglmm and its pinned dependencies into .venv (a few minutes the first time) ..." >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e ".[test]" >&2
    echo "$want" > "$stamp"
  fi
}

cmd="${1:-run}"
shift || true
ensure_env
export MPLBACKEND=Agg
case "$cmd" in
  run)   exec .venv/bin/bayesglmm course multicentre --out reports/multicentre "$@" ;;
  test)  exec .venv/bin/python -m pytest "$@" ;;
  bench) script="${1:-parameterization}"; shift || true
         exec .venv/bin/python "benchmarks/${script%.py}.py" "$@" ;;
  *) echo "usage: bash dev.sh run|test|bench [NAME] [args]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# SteelSight developer tasks. Usage: ./tasks.sh COMMAND
#   setup   create .venv and install steelsight with the train, edge and dev extras
#           (also installs Mosquitto through apt when run as root and it is missing)
#   demo    setup, then export the slag and weld networks and run them in ONNX Runtime
#   test    setup, then ruff (lint + format check) and the pytest suite
#   lint    ruff only
#   bench   setup, then the benchmarks in benchmarks/ (JSON on stdout)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${STEELSIGHT_VENV:-.venv}"
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV" || {
            echo "tasks.sh: could not create $VENV; install the venv module (Debian: apt-get install python3-venv)" >&2
            exit 1
        }
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    stamp="$VENV/.steelsight-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet -e ".[train,edge,dev]"
        touch "$stamp"
    fi
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
        else
            echo "tasks.sh: Mosquitto is not installed; MQTT tests will be skipped (apt-get install mosquitto mosquitto-clients)" >&2
        fi
    fi
}

lint() {
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
}

case "${1:-}" in
    setup) setup ;;
    demo) setup; "$VENV/bin/steelsight-train" demo --out demo_out ;;
    test) setup; lint; "$PY" -m pytest -q ;;
    lint) lint ;;
    bench) setup; "$PY" benchmarks/models.py ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

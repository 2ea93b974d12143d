#!/usr/bin/env bash
# SteelSight developer tasks. Usage: ./tasks.sh COMMAND
#   setup   create .venv and install steelsight with the train, edge and dev extras
#           (also installs Mosquitto with apt-get, through sudo when not root, if it is missing)
#   demo    create .venv with the edge extra only (no torch), install Mosquitto, then run the
#           demo: a synthetic furnace video through the demo bundle to a local MQTT broker
#   test    setup, then ruff (lint + format check) and the pytest suite
#   lint    ruff only
#   bench   setup, then the benchmarks in benchmarks/ (JSON on stdout)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${STEELSIGHT_VENV:-.venv}"
PY="$VENV/bin/python"

setup() {
    local extras="${1:-train,edge,dev}"
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV" || {
            echo "tasks.sh: could not create $VENV; install the venv module (Debian: apt-get install python3-venv)" >&2
            exit 1
        }
    fi
    # Reinstall only when pyproject.toml changed since the last install of these extras.
    local stamp="$VENV/.steelsight-installed-${extras//,/-}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "tasks.sh: installing steelsight[$extras] into $VENV (a few minutes the first time)" >&2
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet -e ".[$extras]"
        touch "$stamp"
    fi
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; }; then
            echo "tasks.sh: installing Mosquitto (the MQTT broker) with apt-get" >&2
            $sudo apt-get update -qq
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
        else
            echo "tasks.sh: Mosquitto is not installed; the demo needs it and MQTT tests will be skipped" \
                "(apt-get install mosquitto mosquitto-clients)" >&2
        fi
    fi
}

lint() {
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
}

case "${1:-}" in
    setup) setup ;;
    demo) setup edge; "$VENV/bin/steelsight-edge" demo --out demo_out "${@:2}" ;;
    test) setup; lint; "$PY" -m pytest -q ;;
    lint) lint ;;
    bench) setup; "$PY" benchmarks/models.py ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

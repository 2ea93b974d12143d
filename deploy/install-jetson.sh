#!/usr/bin/env bash
# Install the SteelSight camera runtime on a Jetson (JetPack 6) as a systemd service.
#
# Usage: sudo deploy/install-jetson.sh [OPTIONS]
#
#   --camera ID               enable (and start) steelsight-edge@ID, which reads /etc/steelsight/ID.toml
#   --source-dir DIR          the steelsight source tree to install (default: this script's repository)
#   --bundle DIR              copy a model bundle to /opt/steelsight/bundles/<name>/ (repeatable)
#   --extras LIST             pip extras (default: edge,jetson; "edge" alone: ONNX Runtime only, no GPU)
#   --no-build-engine         do not pre-build the camera's TensorRT engine (the runtime then builds it
#                             on its first start, which can take minutes)
#   --no-start                enable the camera's unit but do not (re)start it
#   --with-broker             install Mosquitto with deploy/mosquitto/steelsight.conf and a password file
#   --broker-user NAME        the broker user for the cameras (default: steelsight)
#   --broker-password-file F  a file holding that user's password (default: prompt on a terminal,
#                             otherwise a random one); kept for the cameras in /etc/steelsight/mqtt-password
#   --dry-run                 print the steps and commands without changing anything (no root needed)
#   -h, --help                this help
#
# Safe to run again (after a `git pull`, or to add a camera): the package and the unit file are
# reinstalled; camera configs, the broker's password file and built engines are never overwritten.
set -euo pipefail

PREFIX=/opt/steelsight
VENV="$PREFIX/venv"
BUNDLES="$PREFIX/bundles"
ETC=/etc/steelsight
UNIT_NAME="steelsight-edge@.service"
UNIT_DIR=/etc/systemd/system
SERVICE_USER=steelsight
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
MOSQUITTO_CONF=/etc/mosquitto/mosquitto.conf
MOSQUITTO_SNIPPET=/etc/mosquitto/conf.d/steelsight.conf
MOSQUITTO_PASSWD=/etc/mosquitto/steelsight.passwd
CAMERA_PASSWORD_FILE="$ETC/mqtt-password"

SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CAMERA=""
EXTRAS="edge,jetson"
BUILD_ENGINE=1
START=1
WITH_BROKER=0
BROKER_USER=steelsight
BROKER_PASSWORD_FILE=""
DRY_RUN=0
BUNDLE_DIRS=()
STEP=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install-jetson.sh: error: $*" >&2; exit 1; }
warn() { echo "install-jetson.sh: warning: $*" >&2; }
step() { STEP=$((STEP + 1)); echo; echo "==> $STEP. $*"; }
info() { echo "    $*"; }

# Run a command, or print it under --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        local arg line="    +"
        for arg in "$@"; do
            if [[ "$arg" =~ ^[A-Za-z0-9_./=:@%+,-]+$ ]]; then
                line+=" $arg"
            else
                line+=" '${arg//\'/\'\\\'\'}'"
            fi
        done
        echo "$line"
    else
        "$@"
    fi
}

# A check that stops the install; under --dry-run it only reports.
fail_check() {
    if [ "$DRY_RUN" = 1 ]; then
        warn "$* (a real install would stop here)"
    else
        die "$*"
    fi
}

need_value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        die "$1 needs a value (see --help)"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --camera) need_value "$@"; CAMERA="$2"; shift 2 ;;
        --source-dir) need_value "$@"; SOURCE_DIR="$2"; shift 2 ;;
        --bundle) need_value "$@"; BUNDLE_DIRS+=("$2"); shift 2 ;;
        --extras) need_value "$@"; EXTRAS="$2"; shift 2 ;;
        --no-build-engine) BUILD_ENGINE=0; shift ;;
        --no-start) START=0; shift ;;
        --with-broker) WITH_BROKER=1; shift ;;
        --broker-user) need_value "$@"; BROKER_USER="$2"; shift 2 ;;
        --broker-password-file) need_value "$@"; BROKER_PASSWORD_FILE="$2"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

if [ -n "$CAMERA" ] && ! [[ "$CAMERA" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]]; then
    die "--camera $CAMERA: 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
fi
[[ "$BROKER_USER" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--broker-user $BROKER_USER: letters, digits, '_', '-', '.'"
[ -f "$SOURCE_DIR/pyproject.toml" ] || die "--source-dir $SOURCE_DIR has no pyproject.toml"
SOURCE_DIR="$(cd "$SOURCE_DIR" && pwd)"
[ -f "$SOURCE_DIR/systemd/$UNIT_NAME" ] || die "$SOURCE_DIR/systemd/$UNIT_NAME is missing"
if [ -n "$BROKER_PASSWORD_FILE" ] && [ ! -r "$BROKER_PASSWORD_FILE" ]; then
    die "--broker-password-file $BROKER_PASSWORD_FILE cannot be read"
fi
for bundle in "${BUNDLE_DIRS[@]}"; do
    [ -f "$bundle/manifest.json" ] || die "--bundle $bundle has no manifest.json"
done
JETSON=0
[[ ",$EXTRAS," == *",jetson,"* ]] && JETSON=1

if [ "$DRY_RUN" = 1 ]; then
    echo "install-jetson.sh: dry run: printing the steps, changing nothing"
elif [ "$(id -u)" != 0 ]; then
    die "run as root (sudo $0 ...), or preview with --dry-run"
fi
info "source:  $SOURCE_DIR"
info "camera:  ${CAMERA:-(none: install only)}"
info "extras:  $EXTRAS"

# --------------------------------------------------------------------------------------------
step "Checking the platform (JetPack 6: L4T r36, system TensorRT, CUDA toolkit)"
if [ -r /etc/nv_tegra_release ]; then
    info "L4T: $(head -n 1 /etc/nv_tegra_release)"
    grep -q "R36" /etc/nv_tegra_release || warn "this is not L4T r36 (JetPack 6); the unit and pycuda may still work"
else
    warn "no /etc/nv_tegra_release: this does not look like a Jetson"
fi
command -v python3 >/dev/null 2>&1 || fail_check "python3 is missing (apt-get install python3)"
if [ "$JETSON" = 1 ]; then
    if TRT_VERSION="$(python3 -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null)"; then
        info "TensorRT (system python3): $TRT_VERSION"
        [ "${TRT_VERSION%%.*}" -ge 10 ] 2>/dev/null ||
            fail_check "TensorRT $TRT_VERSION is older than 10 (JetPack 6.0 ships 8.6; use JetPack 6.1 or later)"
    else
        fail_check "python3 cannot import tensorrt: install JetPack's Python bindings (apt-get install python3-libnvinfer, or nvidia-jetpack)"
    fi
    if [ -f "$CUDA_HOME/include/cuda.h" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
        info "CUDA toolkit: $CUDA_HOME ($("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
    else
        fail_check "no CUDA headers and nvcc under $CUDA_HOME (pycuda builds against them, and the runtime compiles its kernels with nvcc): apt-get install nvidia-jetpack (or cuda-toolkit), or set CUDA_HOME"
    fi
fi

# --------------------------------------------------------------------------------------------
step "Installing the build dependencies (apt)"
APT_PACKAGES=(python3-venv python3-dev python3-pip build-essential)
MISSING=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$package")
done
if [ ${#MISSING[@]} -eq 0 ]; then
    info "already installed: ${APT_PACKAGES[*]}"
else
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}"
fi

# --------------------------------------------------------------------------------------------
step "Creating the service user '$SERVICE_USER' (system user, in the video group)"
getent group video >/dev/null 2>&1 || run groupadd --system video
if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
    info "user $SERVICE_USER exists"
    id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx video || run usermod -aG video "$SERVICE_USER"
else
    run useradd --system --user-group --groups video --home-dir "/var/lib/$SERVICE_USER" \
        --no-create-home --shell /usr/sbin/nologin --comment "SteelSight camera runtime" "$SERVICE_USER"
fi

# --------------------------------------------------------------------------------------------
step "Creating the virtual environment $VENV (with system site packages: JetPack's TensorRT)"
if [ -x "$VENV/bin/python" ] && grep -qs "include-system-site-packages = true" "$VENV/pyvenv.cfg"; then
    info "$VENV exists"
else
    run install -d -m 0755 "$PREFIX"
    run python3 -m venv --system-site-packages "$VENV"
fi
run "$VENV/bin/python" -m pip install --quiet --upgrade pip setuptools wheel

# --------------------------------------------------------------------------------------------
step "Installing steelsight[$EXTRAS] from $SOURCE_DIR (pycuda is built from source)"
# pycuda has no wheels for the Jetson: pip builds it against CUDA_ROOT's headers and libraries.
export CUDA_ROOT="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH"
PIP_EXTRAS="$EXTRAS"
if [ "$JETSON" = 1 ]; then
    # JetPack's TensorRT comes from apt. When its package metadata is not visible to pip, the
    # jetson extra's `tensorrt` requirement would fetch a PyPI wheel that is not built for
    # Tegra: install pycuda alone and keep the system's TensorRT.
    if [ "$DRY_RUN" = 1 ]; then
        info "(when pip cannot see the system TensorRT's metadata: pycuda alone, then the other extras)"
    elif ! "$VENV/bin/python" -c "import importlib.metadata as m; m.version('tensorrt')" 2>/dev/null; then
        warn "pip cannot see the system TensorRT's metadata: installing pycuda without the jetson extra"
        PIP_EXTRAS="$(echo ",$EXTRAS," | sed 's/,jetson,/,/g; s/^,//; s/,$//')"
        run "$VENV/bin/python" -m pip install --quiet "pycuda>=2024.1"
    fi
fi
run "$VENV/bin/python" -m pip install --quiet "${SOURCE_DIR}[${PIP_EXTRAS}]"
if [ "$JETSON" = 1 ]; then
    run "$VENV/bin/python" -c 'import tensorrt, pycuda.driver as cuda; cuda.init(); print("TensorRT", tensorrt.__version__, "on", cuda.Device(0).name())'
fi
run "$VENV/bin/steelsight-edge" info

# --------------------------------------------------------------------------------------------
step "Installing the systemd unit $UNIT_DIR/$UNIT_NAME"
run install -m 0644 "$SOURCE_DIR/systemd/$UNIT_NAME" "$UNIT_DIR/$UNIT_NAME"
run install -D -m 0644 "$SOURCE_DIR/systemd/README.md" "$PREFIX/doc/systemd-README.md"

# --------------------------------------------------------------------------------------------
step "Model bundles in $BUNDLES (TensorRT engines are cached in each bundle's engines/)"
run install -d -m 0755 "$BUNDLES"
declare -A ENGINE_DIRS=()
for bundle in "${BUNDLE_DIRS[@]}"; do
    name="$(basename "$(cd "$bundle" && pwd)")"
    info "bundle $name <- $bundle"
    run install -d -m 0755 "$BUNDLES/$name"
    # The model files are replaced; engines/ is left alone (engines are keyed by the model's hash,
    # so a stale one is rebuilt, never loaded).
    if [ "$DRY_RUN" = 1 ]; then
        info "+ tar -C $bundle --exclude=./engines -cf - . | tar -C $BUNDLES/$name --no-same-owner -xf -"
    else
        tar -C "$bundle" --exclude=./engines -cf - . | tar -C "$BUNDLES/$name" --no-same-owner -xf -
    fi
    ENGINE_DIRS["$BUNDLES/$name/engines"]=1
done
for manifest in "$BUNDLES"/*/manifest.json; do
    if [ -f "$manifest" ]; then
        ENGINE_DIRS["$(dirname "$manifest")/engines"]=1
    fi
done
# Only the engines/ folders are writable by the service (the unit lists $BUNDLES in
# ReadWritePaths=); without them TensorRT cannot cache and the runtime falls back to ONNX Runtime.
for folder in "${!ENGINE_DIRS[@]}"; do
    run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0755 "$folder"
done
[ ${#ENGINE_DIRS[@]} -gt 0 ] || info "no bundles yet: add them with --bundle DIR (or copy them to $BUNDLES/ and run this again)"

# --------------------------------------------------------------------------------------------
step "Camera configs in $ETC (existing files are never overwritten)"
run install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC"
CONFIG=""
if [ -n "$CAMERA" ]; then
    CONFIG="$ETC/$CAMERA.toml"
    EXAMPLE="$SOURCE_DIR/examples/slagcam01.toml"
    if [ -e "$CONFIG" ]; then
        info "$CONFIG exists: kept"
    elif [ -f "$EXAMPLE" ]; then
        run install -m 0640 -o root -g "$SERVICE_USER" "$EXAMPLE" "$CONFIG"
        # The example's [camera] id becomes this camera's (id is a key of [camera] only).
        run sed -i "s/^\\([[:space:]]*id[[:space:]]*=[[:space:]]*\\).*/\\1\"$CAMERA\"/" "$CONFIG"
        info "edit $CONFIG: source, bundle, calibration, MQTT; state paths under /var/lib/steelsight/$CAMERA/"
    else
        warn "no $EXAMPLE: write $CONFIG yourself (see systemd/README.md)"
    fi
fi

# --------------------------------------------------------------------------------------------
if [ "$WITH_BROKER" = 1 ]; then
    step "Local Mosquitto broker (persistence, loopback listener, password file)"
    if ! command -v mosquitto_passwd >/dev/null 2>&1 || ! [ -x /usr/sbin/mosquitto ]; then
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients
    fi
    run install -D -m 0644 "$SOURCE_DIR/deploy/mosquitto/steelsight.conf" "$MOSQUITTO_SNIPPET"
    # Mosquitto refuses a second persistence_location; set it only when mosquitto.conf does not.
    if ! grep -qs '^[[:space:]]*persistence_location' "$MOSQUITTO_CONF"; then
        run sed -i 's|^#persistence_location |persistence_location |' "$MOSQUITTO_SNIPPET"
    fi
    # The cameras' copy of the password (their [mqtt] password_file), readable by the service user.
    if [ -e "$CAMERA_PASSWORD_FILE" ]; then
        info "$CAMERA_PASSWORD_FILE exists: kept"
    elif [ "$DRY_RUN" = 1 ]; then
        info "+ write the broker password to $CAMERA_PASSWORD_FILE (root:$SERVICE_USER 0640) from ${BROKER_PASSWORD_FILE:-a prompt, or a random one}"
    else
        if [ -n "$BROKER_PASSWORD_FILE" ]; then
            PASSWORD="$(head -n 1 "$BROKER_PASSWORD_FILE")"
        elif [ -t 0 ]; then
            read -rsp "Password for the broker user $BROKER_USER: " PASSWORD; echo
            read -rsp "Again: " AGAIN; echo
            [ "$PASSWORD" = "$AGAIN" ] || die "the passwords differ"
        else
            PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
            info "generated a random password for $BROKER_USER"
        fi
        [ -n "$PASSWORD" ] || die "empty broker password"
        (umask 027 && printf '%s\n' "$PASSWORD" > "$CAMERA_PASSWORD_FILE")
        chown "root:$SERVICE_USER" "$CAMERA_PASSWORD_FILE"
        chmod 0640 "$CAMERA_PASSWORD_FILE"
    fi
    # The broker's file holds hashes only. Mosquitto reads it after dropping to its own user.
    if [ -e "$MOSQUITTO_PASSWD" ] && grep -qs "^$BROKER_USER:" "$MOSQUITTO_PASSWD"; then
        info "$MOSQUITTO_PASSWD has $BROKER_USER: kept"
    elif [ "$DRY_RUN" = 1 ]; then
        info "+ mosquitto_passwd: add $BROKER_USER to $MOSQUITTO_PASSWD (root:mosquitto 0640)"
    else
        PASSWORD="$(head -n 1 "$CAMERA_PASSWORD_FILE")"
        if [ -e "$MOSQUITTO_PASSWD" ]; then
            mosquitto_passwd -b "$MOSQUITTO_PASSWD" "$BROKER_USER" "$PASSWORD"
        else
            # A plain-text file hashed in place (-U) keeps the password off the command line.
            (umask 077 && printf '%s:%s\n' "$BROKER_USER" "$PASSWORD" > "$MOSQUITTO_PASSWD.new")
            mosquitto_passwd -U "$MOSQUITTO_PASSWD.new"
            mv "$MOSQUITTO_PASSWD.new" "$MOSQUITTO_PASSWD"
        fi
        chown root:mosquitto "$MOSQUITTO_PASSWD"
        chmod 0640 "$MOSQUITTO_PASSWD"
    fi
    run systemctl enable mosquitto.service
    run systemctl restart mosquitto.service
    info "cameras: [mqtt] host = \"localhost\", username = \"$BROKER_USER\", password_file = \"$CAMERA_PASSWORD_FILE\""
fi

# --------------------------------------------------------------------------------------------
step "Reloading systemd"
run systemctl daemon-reload

if [ -z "$CAMERA" ]; then
    step "No --camera given: no instance enabled"
    info "enable one with: sudo $0 --camera ID   (or: systemctl enable --now steelsight-edge@ID)"
    exit 0
fi
UNIT="steelsight-edge@$CAMERA.service"

# --------------------------------------------------------------------------------------------
step "Checking $CONFIG and building its TensorRT engine (as $SERVICE_USER)"
# The runtime builds a missing engine itself at start (open_engine), but an INT8 build takes
# minutes on a Jetson: building it now keeps the first start short and shows build errors here.
CONFIG_OK=0
# The same cache folder as the unit's CacheDirectory= (pycuda's kernels, Numba, CUDA's JIT).
CACHE="/var/cache/steelsight/$CAMERA"
run install -d -m 0755 /var/cache/steelsight
run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$CACHE"
AS_USER=(runuser -u "$SERVICE_USER" -- env "PATH=$VENV/bin:$CUDA_HOME/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "XDG_CACHE_HOME=$CACHE" "NUMBA_CACHE_DIR=$CACHE/numba" "CUDA_CACHE_PATH=$CACHE/cuda")
if [ "$DRY_RUN" = 1 ]; then
    info "+ check $CONFIG with edge.config.load_runtime_config, as $SERVICE_USER"
    if [ "$BUILD_ENGINE" = 1 ] && [ "$JETSON" = 1 ]; then
        info "+ ${AS_USER[*]} steelsight-edge build-engine <[model] bundle> --precision <[model] precision: int8|fp16|fp32>"
    fi
    CONFIG_OK=1
elif [ ! -e "$CONFIG" ]; then
    warn "$CONFIG does not exist yet: $UNIT is enabled but not started"
elif MODEL="$("${AS_USER[@]}" python -c '
import sys
from edge.config import load_runtime_config
m = load_runtime_config(sys.argv[1]).model
size = m.input_size or ("", "")
print(m.bundle, m.precision, m.backend, *size, sep="\t")
' "$CONFIG")"; then
    CONFIG_OK=1
    IFS=$'\t' read -r MODEL_BUNDLE MODEL_PRECISION MODEL_BACKEND MODEL_HEIGHT MODEL_WIDTH <<<"$MODEL"
    info "bundle $MODEL_BUNDLE, precision $MODEL_PRECISION, backend $MODEL_BACKEND"
    if [ "$BUILD_ENGINE" = 1 ] && [ "$JETSON" = 1 ] && [ "$MODEL_BACKEND" != onnxruntime ]; then
        BUILD=("${AS_USER[@]}" steelsight-edge --log-level INFO build-engine "$MODEL_BUNDLE" --precision "$MODEL_PRECISION")
        [ -z "$MODEL_HEIGHT" ] || BUILD+=(--height "$MODEL_HEIGHT" --width "$MODEL_WIDTH")
        info "building (minutes for int8; reused when already built): ${BUILD[*]}"
        "${BUILD[@]}" || warn "the engine build failed (exit $?): the runtime will retry at start, and with backend = \"auto\" fall back to ONNX Runtime"
    fi
else
    warn "$CONFIG is not valid yet (above): fix it, then systemctl restart $UNIT"
fi

# --------------------------------------------------------------------------------------------
step "Enabling $UNIT"
run systemctl enable "$UNIT"
if [ "$START" = 1 ] && [ "$CONFIG_OK" = 1 ]; then
    [ "$DRY_RUN" = 0 ] || info "(restarted only when the config is valid)"
    run systemctl restart "$UNIT"
fi

step "Next steps"
cat <<EOF
    - Edit the camera's config:   sudoedit $ETC/$CAMERA.toml
      state paths (writable by the service): /var/lib/steelsight/$CAMERA/  e.g.
      [outbox] path = "/var/lib/steelsight/$CAMERA/outbox.sqlite"
    - Check it:                   sudo -u $SERVICE_USER $VENV/bin/steelsight-edge info --config $ETC/$CAMERA.toml
    - Start / restart:            sudo systemctl restart $UNIT
    - Status (fps in the line):   systemctl status $UNIT
    - Logs:                       journalctl -u $UNIT -f
    - Reload the calibration:     sudo systemctl reload $UNIT
    - More cameras:               sudo $0 --camera ID2   (one config and one unit instance each)
    - Details:                    $PREFIX/doc/systemd-README.md
EOF

"""Deployment files: the systemd unit, the Jetson install script and the Mosquitto snippet.

``systemd-analyze verify`` and ``shellcheck`` run when installed (CI installs systemd through apt)
and the tests skip with the reason otherwise; the unit's keys are also checked without systemd.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.demo.local_broker import port_open
from tests.mosquitto import MOSQUITTO, free_port, mosquitto_missing

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "steelsight-edge@.service"
INSTALL = ROOT / "deploy" / "install-jetson.sh"
SNIPPET = ROOT / "deploy" / "mosquitto" / "steelsight.conf"
EXEC = "/opt/steelsight/venv/bin/steelsight-edge"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(UNIT)
    return parser


def _values(section: str, key: str) -> list[str]:
    """Every value of a key systemd lets repeat (configparser keeps only the last)."""
    values, current = [], None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and line.startswith(f"{key}="):
            values.extend(line.split("=", 1)[1].split())
    return values


def test_unit_has_the_required_settings() -> None:
    unit = _unit()
    service, head = unit["Service"], unit["Unit"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"].rstrip("s").isdigit() and int(service["WatchdogSec"].rstrip("s")) > 0
    assert service["Restart"] == "on-failure"
    assert "RestartSec" in service
    # The rate limit belongs to [Unit] (systemd ignores it in [Service] since v230).
    assert "StartLimitIntervalSec" in head and "StartLimitBurst" in head
    assert "TimeoutStopSec" in service and "TimeoutStartSec" in service
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ExecStart"].startswith(EXEC + " ")
    assert service["ExecStart"].endswith(" run --config /etc/steelsight/%i.toml")
    assert service["User"] == "steelsight" and service["Group"] == "steelsight"
    assert "video" in service["SupplementaryGroups"].split()
    assert service["StateDirectory"] == "steelsight/%i"
    assert service["CacheDirectory"] == "steelsight/%i"
    environment = dict(item.split("=", 1) for item in _values("Service", "Environment"))
    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["NUMBA_CACHE_DIR"].startswith("%C/steelsight/%i")
    assert "/usr/local/cuda/bin" in environment["PATH"].split(":")  # nvcc for the CUDA kernels
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "true"
    assert service["NoNewPrivileges"] == "true"
    assert service["PrivateTmp"] == "true"
    assert _values("Service", "ReadWritePaths") == ["-/opt/steelsight/bundles"]
    for key in ("ProtectKernelTunables", "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality"):
        assert service[key] == "true", key
    # Cameras and the GPU must stay visible: no private /dev, no device allow-list.
    assert service.get("PrivateDevices", "false") == "false"
    assert "DeviceAllow" not in service and "DevicePolicy" not in service
    assert "ProtectClock" not in service  # implies DeviceAllow=char-rtc, an allow-list
    assert "network-online.target" in _values("Unit", "After")
    assert "network-online.target" in _values("Unit", "Wants")
    assert "mosquitto.service" in _values("Unit", "After")
    assert "mosquitto.service" not in _values("Unit", "Requires")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_readme_state_paths_make_a_valid_config(tmp_path: Path) -> None:
    """The README's advice (absolute paths in the state directory) is a config the runtime takes."""
    from edge.config import load_runtime_config

    state = "/var/lib/steelsight/slagcam01"
    config = tmp_path / "slagcam01.toml"
    config.write_text(
        f"""
[camera]
id = "slagcam01"
source = "synthetic://slag"
[model]
bundle = "/opt/steelsight/bundles/slag_synthetic"
[mqtt]
username = "steelsight"
password_file = "/etc/steelsight/mqtt-password"
image_dir = "{state}/images"
snapshot_dir = "{state}/snapshots"
[outbox]
path = "{state}/outbox.sqlite"
"""
    )
    loaded = load_runtime_config(config)
    assert loaded.outbox.path == Path(state) / "outbox.sqlite"
    assert loaded.mqtt.image_dir == Path(state) / "images"
    readme = (ROOT / "systemd" / "README.md").read_text()
    for line in ('path = "/var/lib/steelsight/slagcam01/outbox.sqlite"', "image_dir =", "snapshot_dir ="):
        assert line in readme


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    stub = tmp_path / "steelsight-edge"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    probe = tmp_path / "probe.service"
    probe.write_text(f"[Service]\nType=notify\nExecStart={stub}\n")
    result = _verify(probe)
    if result.returncode != 0:
        pytest.skip(f"systemd-analyze verify cannot run here: {(result.stderr or result.stdout).strip()}")

    # An instance of the template; ExecStart points at a stub (verify checks that it exists).
    text = UNIT.read_text()
    assert text.count(EXEC) == 1
    text = text.replace(EXEC, str(stub))
    if not Path("/bin/kill").exists():  # procps; always there on JetPack
        text = text.replace("/bin/kill", str(stub))
    instance = tmp_path / "steelsight-edge@test.service"
    instance.write_text(text)
    result = _verify(instance)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # Unknown keys and bad values are only warnings (exit 0): none may mention the unit.
    assert not [line for line in output.splitlines() if "steelsight-edge@test" in line], output

    # The check above sees warnings: a misspelt key is reported.
    typo = tmp_path / "steelsight-edge@typo.service"
    typo.write_text(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = _verify(typo)
    assert "NoNewPrivilege" in result.stdout + result.stderr


def test_install_script_syntax() -> None:
    subprocess.run(["bash", "-n", str(INSTALL)], check=True, timeout=30)
    assert os.access(INSTALL, os.X_OK)
    assert "set -euo pipefail" in INSTALL.read_text()


def test_install_script_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(
        ["shellcheck", str(INSTALL)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_help() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    for option in ("--camera", "--source-dir", "--dry-run", "--with-broker", "--broker-password-file"):
        assert option in result.stdout


def test_install_script_dry_run_changes_nothing(tmp_path: Path) -> None:
    """--dry-run prints the steps, needs no root and runs none of the commands that change the system."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    mutating = [
        "apt-get", "useradd", "usermod", "groupadd", "systemctl", "install", "runuser",
        "mosquitto_passwd", "chown", "chmod", "mkdir", "cp", "mv", "rm", "ln", "tar", "pip", "pip3",
    ]  # fmt: skip
    for name in mutating:
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        (stubs / name).chmod(0o755)
    # python3: the read-only checks (import tensorrt) run; creating a venv or pip would be recorded.
    real_python = shutil.which("python3") or "/usr/bin/python3"
    (stubs / "python3").write_text(
        f'#!/bin/sh\ncase "$*" in *venv*|*pip*) echo "python3 $*" >> "{calls}"; exit 1;; esac\n'
        f'exec {real_python} "$@"\n'
    )
    (stubs / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    command = ["bash", str(INSTALL), "--dry-run", "--camera", "test", "--source-dir", str(ROOT)]
    # A real (tiny) bundle made here: the repository's bundles/ folder is not committed.
    from tests.edge.bundle.test_loader import make_bundle

    bundle = make_bundle(tmp_path / "slag_synthetic", precisions=("fp32",))
    command += ["--bundle", str(bundle), "--with-broker"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not calls.exists(), calls.read_text()
    out = result.stdout
    for expected in (
        "dry run",
        "useradd --system --user-group --groups video",
        "python3 -m venv --system-site-packages /opt/steelsight/venv",
        f"pip install --quiet '{ROOT}[edge,jetson]'",
        f"install -m 0644 {ROOT}/systemd/steelsight-edge@.service /etc/systemd/system/",
        "install -d -o steelsight -g steelsight -m 0755 /opt/steelsight/bundles/slag_synthetic/engines",
        "install -d -m 0750 -o root -g steelsight /etc/steelsight",
        "/etc/mosquitto/conf.d/steelsight.conf",
        "systemctl daemon-reload",
        "steelsight-edge build-engine",
        "systemctl enable steelsight-edge@test.service",
        "journalctl -u steelsight-edge@test.service",
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"


def test_install_script_rejects_bad_arguments() -> None:
    for args in (["--camera", "bad/id"], ["--source-dir", "/nonexistent"], ["--frobnicate"]):
        result = subprocess.run(
            ["bash", str(INSTALL), "--dry-run", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0, args
        assert "error" in result.stderr


@pytest.mark.parametrize("main_sets_location", [True, False], ids=["debian-main-conf", "bare-main-conf"])
def test_mosquitto_snippet_runs(tmp_path: Path, main_sets_location: bool) -> None:
    """The snippet in conf.d/ of a Debian-style mosquitto.conf: the broker starts, refuses anonymous
    clients and accepts the password file's user. Without a persistence_location in the main
    config the installer uncomments the snippet's own."""
    reason = mosquitto_missing()
    if reason is not None:
        pytest.skip(reason)
    data, conf_d = tmp_path / "data", tmp_path / "conf.d"
    data.mkdir()
    conf_d.mkdir()
    port = free_port()
    passwd = tmp_path / "steelsight.passwd"
    passwd.write_text("steelsight:s3cret\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True, timeout=30)
    snippet = SNIPPET.read_text()
    for old, new in (
        ("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1"),
        ("/etc/mosquitto/steelsight.passwd", str(passwd)),
    ):
        assert old in snippet
        snippet = snippet.replace(old, new)
    assert "\n#persistence_location /var/lib/mosquitto/\n" in snippet  # commented: see the snippet
    main = ["pid_file " + str(tmp_path / "mosquitto.pid"), "persistence true"]
    if main_sets_location:
        main.append(f"persistence_location {data}/")
    else:  # what install-jetson.sh does
        snippet = snippet.replace(
            "#persistence_location /var/lib/mosquitto/", f"persistence_location {data}/"
        )
    if os.geteuid() == 0:
        main.append("user root")  # else it drops to the mosquitto user, who cannot read tmp_path
    main.append(f"include_dir {conf_d}")
    (conf_d / "steelsight.conf").write_text(snippet)
    (tmp_path / "mosquitto.conf").write_text("\n".join(main) + "\n")
    process = subprocess.Popen(
        [str(MOSQUITTO), "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if process.poll() is not None:
                pytest.fail(f"mosquitto exited ({process.returncode}): {process.stdout.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "mosquitto did not listen"
            time.sleep(0.05)

        def publish(*auth: str) -> int:
            command = ["mosquitto_pub", "-p", str(port), "-t", "t", "-m", "x", "-q", "1", *auth]
            return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode

        assert publish() != 0, "anonymous client accepted"
        assert publish("-u", "steelsight", "-P", "wrong") != 0
        assert publish("-u", "steelsight", "-P", "s3cret") == 0
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    assert (data / "mosquitto.db").exists()  # saved at the clean shutdown

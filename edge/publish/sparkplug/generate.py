"""Regenerate ``sparkplug_b_pb2.py`` from ``sparkplug_b.proto`` (a development step).

Run from anywhere, with ``grpcio-tools`` installed (the ``dev`` extra)::

    python -m edge.publish.sparkplug.generate            # rewrites the committed module
    python -m edge.publish.sparkplug.generate --out DIR  # writes DIR/edge/publish/sparkplug/...pb2.py

The generated module is committed (the camera needs only ``protobuf`` at run time); a test
regenerates it into a temporary folder and compares it with the committed one. protoc is given the
folder above ``edge`` as its include path, so the descriptor is registered as
``edge/publish/sparkplug/sparkplug_b.proto`` and cannot collide with another library's
``sparkplug_b.proto`` in protobuf's default pool. The generated code checks at import that the
protobuf runtime is at least the version of the protoc that wrote it (see the module's header).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
from pathlib import Path

__all__ = ["MODULE", "PROTO", "ROOT", "generate", "protoc_version"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
"""The folder that holds the ``edge`` package (protoc's include path)."""

PROTO = Path("edge/publish/sparkplug/sparkplug_b.proto")
"""The schema, relative to :data:`ROOT`."""

MODULE = Path("edge/publish/sparkplug/sparkplug_b_pb2.py")
"""The generated module, relative to :data:`ROOT` (or to ``--out``)."""


def _protoc(args: list[str]) -> int:
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise RuntimeError(
            "grpcio-tools is not installed; install the dev extra (pip install -e '.[dev]')"
        ) from exc
    return int(protoc.main(["grpc_tools.protoc", *args]))


def protoc_version() -> str:
    """The installed grpcio-tools version (which fixes the protoc that generates), e.g. ``"1.85.1"``.

    Raises
    ------
    RuntimeError
        When grpcio-tools is not installed.
    """
    try:
        return importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError("grpcio-tools is not installed") from exc


def generate(out: Path | None = None, *, descriptor_set: Path | None = None) -> Path:
    """Run protoc on :data:`PROTO` and return the path of the generated module.

    Parameters
    ----------
    out
        The folder that receives ``edge/publish/sparkplug/sparkplug_b_pb2.py`` (default:
        :data:`ROOT`, i.e. the committed module is rewritten).
    descriptor_set
        Also write the serialized ``FileDescriptorSet`` there.

    Raises
    ------
    RuntimeError
        When grpcio-tools is missing or protoc fails.
    """
    out = ROOT if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    args = [f"--proto_path={ROOT}", f"--python_out={out}"]
    if descriptor_set is not None:
        args.append(f"--descriptor_set_out={descriptor_set}")
    args.append(str(ROOT / PROTO))
    rc = _protoc(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit status {rc} on {ROOT / PROTO}")
    return out / MODULE


def main(argv: list[str] | None = None) -> int:
    """Command line entry: regenerate the module (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output root (default: the source tree)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = generate(args.out)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

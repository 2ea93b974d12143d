"""Model bundles (contract 1 of DESIGN.md): the manifest, its validation and the bundle loader."""

from __future__ import annotations

from edge.bundle.hashing import sha256_file
from edge.bundle.loader import Bundle, GraphSignature, inspect_graph, load_bundle
from edge.bundle.manifest import (
    FILE_NAMES,
    PRECISIONS,
    SCHEMA,
    SUPPORTED_SCHEMAS,
    BundleError,
    ClassInfo,
    FileEntry,
    InputSpec,
    Manifest,
    PostprocessSpec,
    file_entry,
    json_schema,
    read_manifest,
    write_manifest,
)

__all__ = [
    "FILE_NAMES",
    "PRECISIONS",
    "SCHEMA",
    "SUPPORTED_SCHEMAS",
    "Bundle",
    "BundleError",
    "ClassInfo",
    "FileEntry",
    "GraphSignature",
    "InputSpec",
    "Manifest",
    "PostprocessSpec",
    "file_entry",
    "inspect_graph",
    "json_schema",
    "load_bundle",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]

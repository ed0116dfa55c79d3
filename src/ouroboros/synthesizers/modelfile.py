"""The ``.ouro`` model file: a zip of a JSON header and a ``.npz`` of arrays.

Loading never unpickles and never runs code from the file: arrays are read with
``allow_pickle=False``, the class is looked up by name in the registry (an
allow-list), and checksums of both parts catch truncated or edited files.

The header's ``training_lineage`` is the lineage record of the model's training data
(:mod:`ouroboros.lineage`: content hash, depth, synthetic and real shares, ancestry), so
that a table sampled from the model alone gets its full record.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ouroboros import __version__
from ouroboros.errors import ModelFileError
from ouroboros.io import atomic_path

FORMAT = "ouroboros-model"
FORMAT_VERSION = 1
_HEADER, _ARRAYS, _MANIFEST = "header.json", "arrays.npz", "manifest.json"
_ARRAY_KEY = "__ndarray__"
#: what reading a damaged zip, deflate stream, JSON or npz part can raise (zipfile
#: raises zlib, struct and encryption errors as they come)
_DAMAGE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,  # includes json.JSONDecodeError and UnicodeDecodeError
    KeyError,
    RuntimeError,  # "File is encrypted", and an unknown compression method (a subclass)
    OverflowError,
)


def flatten_state(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every array in ``tree`` by a reference and collect it in ``arrays``."""
    if isinstance(tree, dict):
        return {str(k): flatten_state(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [flatten_state(v, arrays) for v in tree]
    if hasattr(tree, "detach") and hasattr(tree, "cpu"):  # a torch tensor
        tree = tree.detach().cpu().numpy()
    if isinstance(tree, np.ndarray):
        if tree.dtype == object:
            raise ModelFileError("object arrays cannot be saved; convert them to str or numbers")
        key = f"a{len(arrays)}"
        arrays[key] = tree
        return {_ARRAY_KEY: key}
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def unflatten_state(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY_KEY}:
            try:
                return arrays[tree[_ARRAY_KEY]]
            except KeyError as exc:
                raise ModelFileError(f"model file refers to a missing array {exc}") from exc
        return {k: unflatten_state(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten_state(v, arrays) for v in tree]
    return tree


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 (hex) of a file's bytes: a model file's identity in lineage records."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_training_lineage(path: str | os.PathLike) -> dict[str, Any] | None:
    """The lineage record of a model file's training data (None for a file without one)."""
    header, _ = read_model(path)
    found = header.get("training_lineage")
    return found if isinstance(found, dict) else None


def write_model(path: str | os.PathLike, header: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write ``header`` (JSON-able) and ``state`` (JSON-able plus arrays) to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        **header,
        "state": flatten_state(state, arrays),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    arrays_bytes = buffer.getvalue()
    header_bytes = json.dumps(header, ensure_ascii=False, indent=1).encode("utf-8")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sha256": {_HEADER: _sha256(header_bytes), _ARRAYS: _sha256(arrays_bytes)},
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=1))
        archive.writestr(_HEADER, header_bytes)
        archive.writestr(_ARRAYS, arrays_bytes)
    return Path(path)


def read_model(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and verify a model file; return ``(header, state)`` with arrays restored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {_MANIFEST, _HEADER, _ARRAYS} <= names:
                raise ModelFileError(
                    f"{str(path)!r} is not an ouroboros model file (missing parts)"
                )
            manifest = json.loads(archive.read(_MANIFEST))
            header_bytes = archive.read(_HEADER)
            arrays_bytes = archive.read(_ARRAYS)
    except ModelFileError:
        raise
    except _DAMAGE as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a complete ouroboros model file (truncated or damaged): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise ModelFileError(f"{str(path)!r} is damaged: its manifest is not a checksum table")
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not an ouroboros model file")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model format version {version}, newer than this ouroboros "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade ouroboros to load it"
        )
    sums = manifest["sha256"]
    for name, data in ((_HEADER, header_bytes), (_ARRAYS, arrays_bytes)):
        if sums.get(name) != _sha256(data):
            raise ModelFileError(
                f"{str(path)!r} was modified after it was written ({name} checksum mismatch); "
                "refit the model or restore the original file"
            )
    try:
        header = json.loads(header_bytes)
        with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except _DAMAGE as exc:
        raise ModelFileError(f"{str(path)!r} holds unreadable data: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{str(path)!r} holds unreadable data: the header is not an object")
    state = unflatten_state(header.pop("state", {}), arrays)
    return header, state

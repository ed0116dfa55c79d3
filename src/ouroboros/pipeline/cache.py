"""Content-addressed step outputs: a folder per (step, key), committed whole or not at all.

A step's key is the hash of its slice of the config and of its inputs' content hashes,
so a step reruns exactly when something it depends on changed. Its outputs are written
into a temporary folder, their SHA-256 recorded in a ``manifest.json``, and the folder
renamed into place in one step: a run killed midway leaves no entry, only a temporary
folder that the next run removes. An entry is checked against its manifest before use;
one whose bytes no longer match is reported, removed and recomputed, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ouroboros.errors import OuroborosError
from ouroboros.io import atomic_write_text

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class PipelineLockedError(OuroborosError, RuntimeError):
    """Another pipeline run holds this cache folder."""


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_of(step: str, config: Any, inputs: dict[str, str]) -> str:
    """The key of a step: a hash of its name, config slice and inputs' hashes, and of the
    library version (another version may compute a step differently)."""
    from ouroboros import __version__

    text = json.dumps(
        {"step": step, "config": config, "inputs": inputs, "version": __version__},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Entry:
    """One committed step output: its folder, the hash of each file, and notes."""

    step: str
    key: str
    folder: Path
    files: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.folder / name

    def hash(self, name: str) -> str:
        return self.files[name]


class Cache:
    """The step outputs of one pipeline, under ``root`` (created on first use)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _folder(self, step: str, key: str) -> Path:
        return self.root / "steps" / step / key

    def lookup(self, step: str, key: str) -> tuple[Entry | None, str | None]:
        """The verified entry of ``(step, key)``, or None; and why an entry was refused.

        A refused (corrupted) entry is removed, so that the step is recomputed.
        """
        folder = self._folder(step, key)
        if not folder.is_dir():
            return None, None
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            files = dict(manifest["files"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"its manifest is unreadable ({type(exc).__name__})"
        else:
            problem = None
            for name, expected in files.items():
                target = folder / name
                if not target.is_file():
                    problem = f"{name} is missing"
                    break
                if file_hash(target) != expected:
                    problem = f"{name} no longer matches its recorded hash {expected[:12]}…"
                    break
            if problem is None:
                return Entry(step, key, folder, files, dict(manifest.get("meta", {}))), None
        shutil.rmtree(folder, ignore_errors=True)
        return None, problem

    def peek(self, step: str, key: str) -> Entry | None:
        """The entry of ``(step, key)`` as recorded, without checking its bytes or removing it."""
        folder = self._folder(step, key)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return Entry(step, key, folder, dict(manifest["files"]), dict(manifest.get("meta", {})))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @contextlib.contextmanager
    def build(self, step: str, key: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """A fresh temporary folder for the step's outputs and a dict for its notes; on
        success every file in the folder is hashed and the folder committed as the entry."""
        tmp_root = self.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{step}-", dir=tmp_root))
        meta: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            yield tmp, meta
            files = {p.name: file_hash(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            meta.setdefault("seconds", time.perf_counter() - started)
            manifest = {"step": step, "key": key, "files": files, "meta": meta}
            atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str))
            target = self._folder(step, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the cache for one run; removes what killed runs left in ``tmp``."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".gitignore").exists():
            atomic_write_text(self.root / ".gitignore", "# outputs of ouro pipeline run\n*\n")
        handle = open(self.root / "lock", "a+")  # noqa: SIM115 (held for the whole run)
        try:
            try:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # not on POSIX: one run at a time is the user's business
                pass
            except OSError as exc:
                raise PipelineLockedError(
                    f"another `ouro pipeline run` is using {str(self.root)!r}; wait for it"
                ) from exc
            shutil.rmtree(self.root / "tmp", ignore_errors=True)
            yield
        finally:
            handle.close()

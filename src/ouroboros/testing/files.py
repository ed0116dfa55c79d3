"""Fuzzing a file format's reader: every damaged file must give the format's one clear error.

``damage(data, kind, position, payload)`` flips, truncates or inserts bytes;
:func:`damages` is the matching hypothesis strategy (hypothesis comes with the ``test``
extra and is imported only when called); :func:`check_damaged_file` writes the damaged
bytes and asserts that the reader raises the expected error with a one-line message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("flip", "truncate", "insert")

Damage = tuple[str, int, bytes]


def damage(data: bytes, kind: str, position: int, payload: bytes = b"\x00") -> bytes:
    """``data`` with the bytes at ``position`` XOR-ed with ``payload`` (``"flip"``; a zero
    result byte becomes 0xFF, so the file always changes), cut at ``position``
    (``"truncate"``), or with ``payload`` inserted there (``"insert"``)."""
    if not data:
        raise ValueError("nothing to damage: the file is empty")
    position %= len(data)
    if kind == "truncate":
        return data[:position]
    if kind == "insert":
        return data[:position] + (payload or b"\x00") + data[position:]
    if kind != "flip":
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    mask = payload or b"\xff"
    out = bytearray(data)
    for offset, byte in enumerate(mask):
        index = (position + offset) % len(out)
        out[index] ^= byte or 0xFF
    return bytes(out)


def damages(max_payload: int = 8) -> Any:
    """A hypothesis strategy of ``(kind, position, payload)`` for :func:`damage`."""
    from hypothesis import strategies as st

    return st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=2**31),
        st.binary(min_size=1, max_size=max_payload),
    )


def check_damaged_file(
    read: Callable[[Path], Any],
    data: bytes,
    how: Damage,
    error: type[BaseException],
    suffix: str = "",
) -> None:
    """Write ``data`` damaged as ``how`` says and assert that ``read(path)`` raises
    ``error`` with a one-line message (or, rarely, reads a file that is still valid)."""
    broken = damage(data, *how)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"damaged{suffix}"
        path.write_bytes(broken)
        try:
            read(path)
        except error as exc:
            message = str(exc)
            assert message and "\n" not in message, f"{how}: the message is not one line"
            assert os.fspath(path) in message or path.name in message, (
                f"{how}: the message does not name the file: {message}"
            )
            return
        except Exception as exc:
            raise AssertionError(
                f"{how}: the reader raised {type(exc).__name__}: {exc}, not {error.__name__}"
            ) from exc

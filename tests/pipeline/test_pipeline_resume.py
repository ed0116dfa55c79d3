"""A run killed at any step resumes without repeating a finished one; a corrupted entry is
detected by its hash and recomputed, never used."""

from __future__ import annotations

import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ouroboros.pipeline import run, status

run_module = importlib.import_module("ouroboros.pipeline.run")
ORDER = ["source", "schema", "fit", "sample", "evaluate", "gate", "publish"]


class Killed(Exception):
    pass


def _kill_at(monkeypatch, name: str) -> None:
    """Make step ``name`` write part of its output, then die."""

    def boom(ctx, out, meta):
        (out / "partial.bin").write_bytes(b"half a file")
        raise Killed(name)

    if name == "publish":

        def boom_publish(entries, config):
            raise Killed(name)

        monkeypatch.setattr(run_module, "publish_table", boom_publish)
        return
    steps = tuple(
        dataclasses.replace(s, make=boom) if s.name == name else s for s in run_module.STEPS
    )
    monkeypatch.setattr(run_module, "STEPS", steps)


@pytest.mark.parametrize("killed", ORDER)
def test_killed_at_each_step_resumes_without_repeating(write_config, monkeypatch, killed, tmp_path):
    config = write_config()
    with monkeypatch.context() as patch:
        _kill_at(patch, killed)
        with pytest.raises(Killed):
            run(config)
    assert not list((tmp_path / ".ouro-pipeline" / "steps").glob(f"{killed}/*"))
    before = ORDER.index(killed)
    assert [s.status for s in status(config)][:before] == ["done"] * before
    resumed = run(config)
    states = [s.status for s in resumed.steps]
    assert states == ["cached"] * before + ["ran"] * (len(ORDER) - before)
    assert resumed.published.is_file()
    assert not list((tmp_path / ".ouro-pipeline" / "tmp").glob("*"))


def test_a_process_killed_by_a_signal_during_fit_resumes(write_config, tmp_path):
    config = write_config()
    script = textwrap.dedent(
        f"""
        import dataclasses, importlib, os, signal
        module = importlib.import_module("ouroboros.pipeline.run")

        def die(ctx, out, meta):
            (out / "model.ouro").write_bytes(b"truncated")
            os.kill(os.getpid(), signal.SIGKILL)

        module.STEPS = tuple(
            dataclasses.replace(s, make=die) if s.name == "fit" else s for s in module.STEPS
        )
        module.run({str(config)!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert [s.status for s in status(config)][:3] == ["done", "done", "pending"]
    resumed = run(config)
    assert [s.status for s in resumed.steps][:3] == ["cached", "cached", "ran"]
    assert resumed.published.is_file()


def _entry(tmp_path, step):
    (folder,) = (tmp_path / ".ouro-pipeline" / "steps" / step).iterdir()
    return folder


@pytest.mark.parametrize(("step", "name"), [("fit", "model.ouro"), ("source", "train.parquet")])
def test_a_corrupted_entry_is_detected_and_recomputed(write_config, tmp_path, step, name):
    config = write_config()
    first = run(config)
    target = _entry(tmp_path, step) / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    assert {s.step: s.status for s in status(config)}[step] == "corrupted"
    lines = []
    again = run(config, say=lines.append)
    outcome = {s.step: s for s in again.steps}[step]
    assert outcome.status == "recomputed"
    assert name in outcome.note and "hash" in outcome.note
    assert any("corrupted" in line for line in lines)
    assert target.read_bytes() != bytes(data)  # the bad bytes were never kept
    assert again.published.read_bytes() == first.published.read_bytes()


def test_a_damaged_manifest_is_recomputed(write_config, tmp_path):
    config = write_config()
    run(config)
    (_entry(tmp_path, "sample") / "manifest.json").write_text("{not json", encoding="utf-8")
    again = run(config)
    assert {s.step: s.status for s in again.steps}["sample"] == "recomputed"


def test_a_second_run_on_the_same_cache_is_refused(write_config, tmp_path):
    import fcntl

    from ouroboros.pipeline.cache import PipelineLockedError

    config = write_config()
    (tmp_path / ".ouro-pipeline").mkdir()
    with open(tmp_path / ".ouro-pipeline" / "lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(PipelineLockedError, match="another"):
            run(config)
    assert os.path.exists(tmp_path / ".ouro-pipeline" / "lock")

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from ouroboros import synthesizers
from ouroboros.errors import ModelFileError
from ouroboros.synthesizers import Synthesizer
from ouroboros.synthesizers.modelfile import FORMAT_VERSION, read_model, write_model
from ouroboros.testing import contract_table
from ouroboros.testing.files import check_damaged_file, damage, damages


@pytest.fixture
def saved(tmp_path, mixed_table):
    path = tmp_path / "m.ouro"
    synthesizers.create("gaussian_copula", seed=0).fit(mixed_table).save(path)
    return path


def rewrite(path, **replace):
    """Rewrite the archive with some parts replaced (bytes)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts.update(replace)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_file_is_json_plus_npz_without_pickle(saved):
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["arrays.npz", "header.json", "manifest.json"]
        header = json.loads(archive.read("header.json"))
        arrays = np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False)
        assert all(arrays[k].dtype != object for k in arrays.files)
    assert header["class"] == "gaussian_copula"
    assert header["params"]["seed"] == 0
    assert header["format_version"] == FORMAT_VERSION


def test_truncated_file(saved):
    saved.write_bytes(saved.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        Synthesizer.load(saved)


def test_tampered_header_is_detected(saved):
    with zipfile.ZipFile(saved) as archive:
        header = json.loads(archive.read("header.json"))
    header["params"]["seed"] = 99
    rewrite(saved, **{"header.json": json.dumps(header).encode()})
    with pytest.raises(ModelFileError, match="modified after it was written"):
        Synthesizer.load(saved)


def test_tampered_arrays_are_detected(saved):
    with zipfile.ZipFile(saved) as archive:
        data = bytearray(archive.read("arrays.npz"))
    data[-40] ^= 0xFF
    rewrite(saved, **{"arrays.npz": bytes(data)})
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Synthesizer.load(saved)


def test_unknown_class_is_refused(tmp_path):
    path = tmp_path / "evil.ouro"
    write_model(path, {"class": "os.system", "params": {}}, {})
    with pytest.raises(ModelFileError, match="unknown class 'os.system'"):
        Synthesizer.load(path)


def test_newer_format_is_refused(saved):
    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["format_version"] = FORMAT_VERSION + 1
    rewrite(saved, **{"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ModelFileError, match="newer"):
        Synthesizer.load(saved)


def test_object_arrays_cannot_be_saved(tmp_path):
    with pytest.raises(ModelFileError, match="object arrays"):
        write_model(tmp_path / "x.ouro", {"class": "x"}, {"bad": np.array([{}, 1], dtype=object)})


def test_state_round_trip(tmp_path):
    state = {"w": np.arange(6.0).reshape(2, 3), "nested": [{"b": np.array(["a", "b"])}], "k": 3}
    write_model(tmp_path / "s.ouro", {"class": "x"}, state)
    header, back = read_model(tmp_path / "s.ouro")
    assert header["class"] == "x"
    np.testing.assert_array_equal(back["w"], state["w"])
    assert back["nested"][0]["b"].tolist() == ["a", "b"] and back["k"] == 3


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.ouro"
    pd.DataFrame({"a": [1]}).to_csv(path)
    with pytest.raises(ModelFileError):
        Synthesizer.load(path)


def test_load_through_subclass_checks_type(saved):
    from ouroboros.synthesizers.independent import IndependentSynthesizer

    with pytest.raises(ModelFileError, match="not a IndependentSynthesizer"):
        IndependentSynthesizer.load(saved)


# ------------------------------------------------------------------ damaged files (fuzzed)
def _saved_bytes(name: str, **params) -> bytes:
    klass = synthesizers.get(name)
    model = klass(seed=0, **{**klass.test_params, **params}).fit(contract_table(120, seed=2))
    with tempfile.TemporaryDirectory() as folder:
        return model.save(Path(folder) / "m.ouro").read_bytes()


SAVED = {name: _saved_bytes(name) for name in ("gaussian_copula", "tvae")}


@pytest.mark.parametrize("name", sorted(SAVED))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(how=damages())
def test_every_damaged_model_file_gives_one_clear_error(name, how):
    check_damaged_file(Synthesizer.load, SAVED[name], how, ModelFileError, ".ouro")


def test_damaged_compressed_member_is_a_model_file_error(tmp_path):
    """A flipped byte inside a deflated member used to escape as a raw ``zlib.error``."""
    data = SAVED["tvae"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("arrays.npz")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    seen = set()
    for offset in range(0, info.compress_size, max(info.compress_size // 40, 1)):
        path = tmp_path / "m.ouro"
        path.write_bytes(damage(data, "flip", start + offset, b"\xa5"))
        with pytest.raises(ModelFileError) as caught:
            Synthesizer.load(path)
        seen.add(type(caught.value.__cause__).__name__)
    assert "error" in seen or "BadZipFile" in seen  # zlib.error or the CRC check


def test_damage_flips_truncates_and_inserts():
    data = bytes(range(10))
    assert damage(data, "truncate", 4) == data[:4]
    assert damage(data, "insert", 3, b"xy") == data[:3] + b"xy" + data[3:]
    flipped = damage(data, "flip", 12, b"\x00")
    assert flipped[2] == data[2] ^ 0xFF and flipped[:2] + flipped[3:] == data[:2] + data[3:]
    with pytest.raises(ValueError, match="kind"):
        damage(data, "shred", 0)


def test_check_damaged_file_reports_a_reader_that_leaks_raw_errors():
    def leaky(path):
        raise KeyError("raw")

    with pytest.raises(AssertionError, match="raised KeyError"):
        check_damaged_file(leaky, b"abc", ("flip", 0, b"\x01"), ModelFileError)

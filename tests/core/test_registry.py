import sys
import textwrap

import pytest

from ouroboros import synthesizers
from ouroboros.errors import ParameterError
from ouroboros.testing import check_synthesizer


def test_builtins_are_listed_and_resolvable():
    names = synthesizers.list()
    assert names[:2] == ["independent", "gaussian_copula"]
    for name in names:
        assert synthesizers.get(name).name == name


def test_unknown_name_lists_what_exists():
    with pytest.raises(ParameterError, match="unknown synthesizer 'nope'; available: independent"):
        synthesizers.get("nope")


def test_create_rejects_unknown_parameters():
    with pytest.raises(ParameterError, match="no parameters \\['epochz'\\]"):
        synthesizers.create("gaussian_copula", epochz=3)


def test_entry_point_plugin_is_found_loaded_and_checked(tmp_path, monkeypatch):
    """A third-party generator installed as a distribution with an entry point."""
    (tmp_path / "thirdparty_gen.py").write_text(
        textwrap.dedent(
            """
            from ouroboros.synthesizers.independent import IndependentSynthesizer

            class MarginalsPlugin(IndependentSynthesizer):
                '''A plugin generator.'''
                name = "marginals_plugin"
            """
        )
    )
    dist = tmp_path / "thirdparty_gen-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-gen\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[ouroboros.synthesizers]\nmarginals_plugin = thirdparty_gen:MarginalsPlugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "marginals_plugin" in synthesizers.list()
    klass = synthesizers.get("marginals_plugin")
    assert klass.__name__ == "MarginalsPlugin"
    check_synthesizer(lambda seed: klass(seed=seed))
    sys.modules.pop("thirdparty_gen", None)

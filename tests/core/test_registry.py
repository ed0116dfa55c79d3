import sys
import textwrap

import pytest

from ouroboros import synthesizers
from ouroboros.cli import run
from ouroboros.errors import MissingDependencyError, OuroborosError, ParameterError
from ouroboros.synthesizers import registry
from ouroboros.testing import check_synthesizer


def test_builtins_are_listed_and_resolvable():
    names = synthesizers.names()
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
    assert "marginals_plugin" in synthesizers.names()
    klass = synthesizers.get("marginals_plugin")
    assert klass.__name__ == "MarginalsPlugin"
    check_synthesizer(lambda seed: klass(seed=seed))
    sys.modules.pop("thirdparty_gen", None)


@pytest.fixture
def missing_extra(monkeypatch):
    """A built-in whose optional extra ``dp`` is not installed."""
    entry = registry.Builtin(
        "ouroboros.synthesizers.independent:IndependentSynthesizer",
        ("ouroboros_missing_dependency",),
        "dp",
    )
    monkeypatch.setitem(registry._BUILTIN, "needs_dp", entry)
    return "needs_dp"


def test_a_builtin_without_its_extra_is_listed_apart(missing_extra):
    assert missing_extra not in synthesizers.names()
    assert missing_extra in synthesizers.names(include_unavailable=True)
    assert synthesizers.install_hint(missing_extra) == "pip install 'ouroboros-synth[dp]'"
    assert synthesizers.install_hint("ctgan") is None


def test_get_names_the_missing_extra(missing_extra):
    with pytest.raises(MissingDependencyError, match=r"optional extra 'dp'.*\[dp\]") as caught:
        synthesizers.get(missing_extra)
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, OuroborosError)
    assert "ouroboros_missing_dependency" in str(caught.value)


def test_ouro_list_shows_the_install_command(missing_extra, capsys):
    assert run(["list"]) == 0
    out = capsys.readouterr().err
    assert "needs_dp" in out and "pip install 'ouroboros-synth[dp]'" in out
    assert "gaussian_copula" in out

"""`ouro fit --epsilon` records releases in the ledger and refuses one past the budget;
`ouro list` says which generators are private."""

from __future__ import annotations

from test_mst import correlated, public_schema

from ouroboros.cli import run


def test_fit_records_releases_and_refuses_past_the_budget(tmp_path, capsys):
    data, schema = tmp_path / "d.csv", tmp_path / "s.json"
    correlated(600).to_csv(data, index=False)
    public_schema().save(schema)
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    base = ["fit", str(data), "--synth", "mst", "--schema", str(schema), "--guard", "off"]
    budget = ["--store", store, "--privacy-budget", "1.5", "--param", "iterations=20"]
    assert (
        run([*base, "--epsilon", "1", "--delta", "1e-6", "-o", str(tmp_path / "a.ouro"), *budget])
        == 0
    )
    assert run([*base, "--epsilon", "1", "-o", str(tmp_path / "b.ouro"), *budget]) == 0
    capsys.readouterr()
    assert run([*base, "--epsilon", "1", "-o", str(tmp_path / "c.ouro"), *budget]) == 1
    assert "past the configured budget (epsilon=1.5)" in capsys.readouterr().err
    assert not (tmp_path / "c.ouro").exists()
    assert run(["ledger", str(data), "--store", store]) == 0
    out = capsys.readouterr()
    assert "2 releases; total epsilon=1.404" in out.out + out.err


def test_epsilon_on_a_non_private_generator_is_refused(tmp_path, capsys):
    data = tmp_path / "d.csv"
    correlated(100).to_csv(data, index=False)
    argv = [
        "fit",
        str(data),
        "--synth",
        "independent",
        "--epsilon",
        "1",
        "-o",
        str(tmp_path / "m.ouro"),
    ]
    assert run(argv) == 1
    assert "not differentially private" in capsys.readouterr().err


def test_list_shows_the_private_generators(capsys):
    assert run(["list"]) == 0
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.startswith("│ aim ")]
    assert lines and "[private: yes]" in lines[0]

"""benchmarks/active_selection.py --forms: a family run restricted to the laws of some forms."""

from __future__ import annotations

from bench_scripts import load_script


def test_forms_that_no_drawn_law_has_are_refused_before_any_study_runs(capsys):
    m = load_script("active_selection")
    assert m.main(["--laws", "6", "--misspecified", "--forms", "fitted"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("--forms: no law of fitted among laws 0-5 (forms drawn: bend, interaction, "
                   "kdrift)")
    assert m.main(["--laws", "6", "--first-law", "3", "--forms", "bend"]) == 2
    assert "forms drawn: fitted" in capsys.readouterr().err

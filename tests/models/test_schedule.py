"""WSD with several decay branches: python -m pytest tests/models/test_schedule.py -q"""

from itertools import pairwise

import pytest
from t2.models.schedule import WSD


def wsd(**kw):
    args = {"peak_lr": 1.0, "warmup_steps": 10, "decay_steps": (100, 150, 200),
            "decay_frac": 0.2, "min_lr_frac": 0.1}
    return WSD(**{**args, **kw})


def test_segments_alternate_trunk_and_one_branch_per_decay_point():
    segs = wsd().segments
    assert [(s.kind, s.start, s.end, s.branch) for s in segs] == [
        ("trunk", 0, 80, 0), ("branch", 80, 100, 0),
        ("trunk", 80, 120, 1), ("branch", 120, 150, 1),
        ("trunk", 120, 160, 2), ("branch", 160, 200, 2),
    ]
    assert [s.progress for s in segs] == [0, 80, 100, 140, 170, 210]
    assert wsd().total_progress == 250


def test_trunk_warms_up_then_stays_at_peak():
    w = wsd()
    assert w.lr(0) == pytest.approx(0.1)
    assert w.lr(9) == pytest.approx(1.0)
    assert w.lr(190) == 1.0


def test_each_branch_decays_to_min_lr_at_its_final_step():
    w = wsd()
    for i, end in enumerate(w.decay_steps):
        b = w.branch_start(i)
        assert w.lr(b - 1, branch=i) == 1.0
        assert w.lr(end - 1, branch=i) == pytest.approx(0.1)
        lrs = [w.lr(s, branch=i) for s in range(b, end)]
        assert all(x > y for x, y in pairwise(lrs))


def test_a_branch_follows_the_same_lrs_as_a_run_decayed_only_at_that_point():
    several = wsd()
    for i, end in enumerate(several.decay_steps):
        alone = wsd(decay_steps=(end,))
        assert [several.lr(s, branch=i) for s in range(end)] == [
            alone.lr(s, branch=0) for s in range(end)]


def test_progress_locates_segment_and_whether_the_state_is_on_the_trunk():
    w = wsd()
    assert w.locate(0) == 0 and w.on_trunk(0)
    assert w.locate(80) == 1 and w.on_trunk(80)        # branch start = trunk state
    assert w.locate(90) == 1 and not w.on_trunk(90)    # inside the decay
    assert w.locate(100) == 2 and not w.on_trunk(100)  # branch end, before returning to trunk
    assert w.locate(110) == 2 and w.on_trunk(110)
    assert w.locate(250) == len(w.segments)


def test_decay_points_on_the_same_step_are_rejected_naming_the_field():
    with pytest.raises(ValueError, match="train.decay_at"):
        wsd(decay_steps=(100, 100))


def test_decay_frac_one_starts_every_branch_at_step_zero():
    w = wsd(warmup_steps=0, decay_steps=(10, 20), decay_frac=1.0)
    assert [s.start for s in w.segments if s.kind == "branch"] == [0, 0]
    assert w.lr(0, branch=1) == pytest.approx(1 - 0.9 / 20)

"""Warmup-stable-decay (WSD) with several decay branches: one run at fixed N, one result per D.

    from t2.models.schedule import WSD
    wsd = WSD(peak_lr=1e-3, warmup_steps=10, decay_steps=(100, 200), decay_frac=0.2)
    for seg in wsd.segments: ...          # trunk [0,80) -> branch D0 [80,100) -> trunk [80,160) ...
    wsd.lr(step=90, branch=0)             # LR on the decay branch of the first D

The trunk warms up then stays at the peak. For the i-th decay point (final step S_i) a branch
leaves the trunk at b_i = round(S_i * (1 - decay_frac)) and decays linearly to min_lr at S_i;
training then returns to the trunk state saved at b_i. Each branch is therefore exactly the run
one would get by decaying at S_i alone (Hägele et al. 2024, "Scaling Laws and Compute-Optimal
Training Beyond Fixed Training Durations"), and the executed steps form one fixed sequence, so
a single counter (``progress``: optimizer steps executed) locates any point of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise


@dataclass(frozen=True)
class Segment:
    kind: str  # "trunk" or "branch"
    start: int  # first schedule step (inclusive)
    end: int  # last schedule step (exclusive)
    branch: int  # for "branch": index of the decay point; for "trunk": the branch that follows
    progress: int  # optimizer steps executed before this segment

    @property
    def num_steps(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WSD:
    peak_lr: float
    warmup_steps: int
    decay_steps: tuple[int, ...]  # final step S_i of each decay point, ascending
    decay_frac: float
    min_lr_frac: float = 0.0

    def __post_init__(self):
        s = self.decay_steps
        if not s or any(b <= a for a, b in pairwise(s)) or s[0] < 1:
            raise ValueError(f"train.decay_at: decay points fall on steps {list(s)}; they must "
                             "be distinct (at least one batch apart) and >= 1")
        if not 0 < self.decay_frac <= 1:
            raise ValueError(f"train.decay_frac: must be in (0, 1], got {self.decay_frac}")

    def branch_start(self, i: int) -> int:
        """b_i: the trunk step where the i-th decay branch leaves (at least one decay step)."""
        s = self.decay_steps[i]
        return min(s - 1, round(s * (1 - self.decay_frac)))

    @cached_property
    def segments(self) -> list[Segment]:
        out, prev, progress = [], 0, 0
        for i, end in enumerate(self.decay_steps):
            b = self.branch_start(i)
            out.append(Segment("trunk", prev, b, i, progress))
            progress += b - prev
            out.append(Segment("branch", b, end, i, progress))
            progress += end - b
            prev = b
        return out

    @property
    def total_progress(self) -> int:
        last = self.segments[-1]
        return last.progress + last.num_steps

    def locate(self, progress: int) -> int:
        """Index of the segment whose next step to run is at ``progress`` (len = finished)."""
        for k, seg in enumerate(self.segments):
            if progress < seg.progress + seg.num_steps:
                return k
        return len(self.segments)

    def on_trunk(self, progress: int) -> bool:
        """Whether the model state after ``progress`` steps is a trunk state (no decay)."""
        k = self.locate(progress)
        if k == len(self.segments):
            return False
        seg = self.segments[k]
        at_start = progress == seg.progress
        if seg.kind == "trunk":
            return not (at_start and k > 0)  # the start of a later trunk follows a branch end
        return at_start  # a branch starts from the trunk state

    def lr(self, step: int, branch: int | None = None) -> float:
        """LR of schedule step ``step`` (0-based) on the trunk (branch None) or a branch."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if branch is None:
            return self.peak_lr * warm
        b, s = self.branch_start(branch), self.decay_steps[branch]
        if step < b:
            return self.peak_lr * warm
        frac = (step - b + 1) / (s - b)
        return self.peak_lr * warm * (1 - frac * (1 - self.min_lr_frac))


def from_hparams(hp) -> WSD:
    """The schedule of a resolved ``t2.models.hparams.Hparams``."""
    return WSD(peak_lr=hp.lr, warmup_steps=hp.warmup_steps, decay_steps=tuple(hp.decay_steps),
               decay_frac=hp.decay_frac, min_lr_frac=hp.min_lr_frac)

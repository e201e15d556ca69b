"""The report's post-training section: pretrained vs post-trained forecasts, per task.

    section = posttrain_section(cfg, paths, pre_laws, chin_law, q)   # None: the stage did not run
    lines = posttrain_lines(cfg, section, q)                          # markdown

The T² paper's third question (Roberts et al. 2026, arXiv 2604.01411): after FT (whole
sequence) or SFT (answer only) the overtraining advantage survives and the optimal degree of
overtraining shrinks somewhat. Per mode, target, task and approach this puts the forecast of
the laws fitted on the pretrained checkpoints beside that of the laws fitted on the same
checkpoints post-trained (t2.flows.posttrain): N*, D*/N*, k* and pass@k at the optimum with
bootstrap intervals, T²/Chinchilla pass@k, and whether D*/N* moved toward the Chinchilla
model's D/N (the Chinchilla-sized model, N from the study's Chinchilla fit of the pretraining
validation loss, is the same before and after: sizing is a pretraining decision). The measured
effect comes first: each task's mean pass@1 over the post-trained checkpoints, before and after.
"""

from __future__ import annotations

import math

import numpy as np
from t2.fitting.forecast import forecast
from t2.flows.config import StudyConfig
from t2.flows.records import RoundRecord
from t2.flows.report_tasks import APPROACH, task_rows, with_interval
from t2.flows.rounds import boot_of, law_fits_of
from t2.flows.steps import StudyPaths
from t2.flows.task_fits import POOLED, LawFit
from t2.infra.storage import read_json


def _ordered(laws: list[LawFit]) -> list[LawFit]:
    return sorted(laws, key=lambda f: (f.task == POOLED, f.task, f.approach))


def measured_pass1(checkpoints: list[dict]) -> dict[str, dict]:
    """Per task: mean over checkpoints of exp(−L(k=1)) pretrained and post-trained."""
    out: dict[str, dict] = {}
    for c in checkpoints:
        for key, ev in (("pretrained", c["pretrained"]), ("posttrained", c["evaluation"])):
            for task, losses in ev["tasks"].items():
                if "1" in losses:
                    out.setdefault(task, {"pretrained": [], "posttrained": []})[key].append(
                        math.exp(-losses["1"]))
    return {t: {k: float(np.mean(v)) for k, v in d.items()} for t, d in sorted(out.items())}


def toward_chinchilla(pre: dict, post: dict) -> bool | None:
    """Whether post-training moved D*/N* closer (in log) to the Chinchilla model's D/N."""
    if "N" not in pre or "N" not in post:
        return None
    chin = math.log(pre["chin_tokens_per_param"])
    return bool(abs(math.log(post["tokens_per_param"]) - chin)
                < abs(math.log(pre["tokens_per_param"]) - chin))


def compare_rows(pre_laws, post_laws, chin_law, target, t: int, q: float) -> list[dict]:
    """One row per task × approach fitted both before and after post-training."""
    pre = {(r["task"], r["approach"]): r for r in task_rows(_ordered(pre_laws), chin_law,
                                                            target, t, q)}
    post = task_rows(_ordered(post_laws), chin_law, target, t, q)
    rows = []
    for r in post:
        before = pre.get((r["task"], r["approach"]), {})
        rows.append({"task": r["task"], "approach": r["approach"], "pretrained": before,
                     "posttrained": r, "toward_chinchilla": toward_chinchilla(before, r)})
    return rows


def posttrain_section(cfg: StudyConfig, paths: StudyPaths, pre_laws: list[LawFit], chin_law,
                      q: float) -> dict | None:
    """The stage's numbers for the report (``report.json``); None when it did not run. With
    no ``pre_laws`` (the pretrained laws could not be fitted) only the measured pass@1."""
    if not paths.posttrain.exists():
        return None
    done = read_json(paths.posttrain)
    targets = [(x.c_train, x.c_inf) for x in cfg.budget.targets]
    section = {"skipped": done.get("skipped"), "flops": done.get("flops", 0.0),
               "seconds": done.get("seconds"), "modes": {}}
    for mode, m in done["modes"].items():
        rec = RoundRecord.from_dict(read_json(paths.posttrain_fit(mode)))
        entry = {"num_checkpoints": len(m["checkpoints"]), "flops": m["flops"],
                 "train_seconds": m["train_seconds"],
                 "measured_pass1": measured_pass1(m["checkpoints"]), "targets": []}
        if not pre_laws:
            entry["reason"] = ("the pretrained laws could not be fitted, so there is no "
                               "forecast to compare")
        elif rec.fitted and rec.kind == "t2":
            boot = boot_of(rec)
            post = [*law_fits_of(rec, targets),
                    LawFit(POOLED, 1, boot, forecast(boot.law, boot.laws, targets))]
            entry["targets"] = [compare_rows(pre_laws, post, chin_law, target, t, q)
                                for t, target in enumerate(cfg.budget.targets)]
        else:
            entry["reason"] = (f"the laws could not be fitted on {rec.num_checkpoints} "
                               f"post-trained checkpoints of {rec.num_runs} runs (too few, "
                               "or no optimum)")
        section["modes"][mode] = entry
    return section


def _pair(pre: dict, post: dict, key: str, fmt: str = ".3g") -> str:
    def one(r):
        return with_interval(r[key], r[f"{key}_iv"], fmt) if key in r else "–"
    return f"{one(pre)} → {one(post)}"


def _moved(rows: list[dict]) -> str:
    """Median factor of D*/N* (post/pre) and how many laws moved toward Chinchilla."""
    both = [r for r in rows if r["toward_chinchilla"] is not None]
    if not both:
        return "no law was fitted both before and after"
    factor = float(np.median([r["posttrained"]["tokens_per_param"]
                              / r["pretrained"]["tokens_per_param"] for r in both]))
    toward = sum(r["toward_chinchilla"] for r in both)
    return (f"median D*/N* post/pre ×{factor:.3g}; {toward} of {len(both)} task × approach "
            "laws moved toward the Chinchilla model's D/N")


def posttrain_lines(cfg: StudyConfig, section: dict, q: float) -> list[str]:
    """Markdown lines of the section (see the module docstring)."""
    from t2.flows.posttrain import posttrain_tasks

    p = cfg.posttrain
    lines = ["## Post-training: does the overtraining advantage survive?", ""]
    if section["skipped"]:
        return [*lines, f"Not run: {section['skipped']}.", ""]
    seconds = section["seconds"]
    which = {"all": "Every pretrained checkpoint", "last": "The last checkpoint of each run",
             "first_round": "Every checkpoint of the study's first round"}[p.checkpoints]
    epochs = f"{p.epochs:g} epoch{'' if p.epochs == 1 else 's'}"
    lines += [(f"{which} was fine-tuned {epochs} on the train splits of "
               f"{', '.join(posttrain_tasks(cfg))} (disjoint from the evaluated problems by "
               "hash; SFT: loss on the answer tokens, FT: on every token), then evaluated as "
               f"the pretrained ones. {section['flops']:.3g} post-training FLOPs (6·N·tokens), "
               "beside the training budget"
               + (f"; the stage took {seconds:.0f} s" if seconds is not None else "") + "."), ""]
    for mode, m in section["modes"].items():
        lines += [(f"### {mode.upper()}: {m['num_checkpoints']} checkpoints, {m['flops']:.3g} "
                  f"FLOPs, {m['train_seconds']:.0f} s of post-training steps"), "",
                  "| task | pass@1 pretrained | pass@1 post-trained |", "|---|---|---|"]
        lines += [f"| {t} | {v['pretrained']:.3g} | {v['posttrained']:.3g} |"
                  for t, v in m["measured_pass1"].items()]
        lines.append("")
        if "reason" in m:
            lines += [f"No post-trained forecast: {m['reason']}.", ""]
            continue
        for t, target in enumerate(cfg.budget.targets):
            rows = m["targets"][t]
            lines += [(f"C_train {target.c_train:.3g}, C_inf {target.c_inf:.3g}, pretrained → "
                      f"post-trained ({q:.0%} intervals): {_moved(rows)}."), "",
                      ("| task | approach | N* | D*/N* | k* | pass@k at the optimum | "
                       "T²/Chinchilla | Chinchilla D/N | toward Chinchilla |"),
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in rows:
                pre, post = r["pretrained"], r["posttrained"]
                if "N" not in post:
                    lines.append(f"| {r['task']} | {APPROACH[r['approach']]} | not "
                                 f"identifiable after post-training: {post['reason']} |||||||")
                    continue
                moved = {None: "–", True: "yes", False: "no"}[r["toward_chinchilla"]]
                lines.append(
                    f"| {r['task']} | {APPROACH[r['approach']]} | {_pair(pre, post, 'N')} | "
                    f"{_pair(pre, post, 'tokens_per_param', '.0f')} | {_pair(pre, post, 'k')} | "
                    f"{_pair(pre, post, 'pass_at_k')} | {_pair(pre, post, 'ratio', '.2f')} | "
                    f"{post['chin_tokens_per_param']:.0f} | {moved} |")
            lines.append("")
    return lines

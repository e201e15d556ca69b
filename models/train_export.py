"""One finished decay point -> ``{out}/results/D-{D:.4g}/``: HF weights, tokenizer, train.json.

    dest = result_dir(out, D=1e5)          # results/D-1e+05
    export_result(dest, state_dict, model_config, tokenizer, summary)   # rank 0 only

The directory counts only once ``_SUCCESS`` is written (last, with checksums); a partial one
from a crash is removed and rewritten. ``hf/`` loads with ``AutoModelForCausalLM`` and
``AutoTokenizer.from_pretrained`` offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from t2.infra.storage import is_done, mark_done, write_json

PARAM_CONVENTION = ("N counts every parameter, embeddings and unembedding included (total); "
                    "FLOPs: 6*N_total*D (paper), 6*N_nonemb*D (Kaplan) and exact (attention "
                    "and unembedding, 3x forward)")


def result_dir(out: str | Path, D: float) -> Path:
    return Path(out) / "results" / f"D-{D:.4g}"


def result_done(out: str | Path, D: float) -> bool:
    return is_done(result_dir(out, D))


def train_flops(counts: dict, flops_per_token: dict, tokens: float) -> dict:
    return {"6ND_total": flops_per_token["train_6N_total"] * tokens,
            "6ND_nonemb": flops_per_token["train_6N_nonemb"] * tokens,
            "exact": flops_per_token["train_exact"] * tokens}


def write_hf(hf: Path, state_dict: dict, model_config, tokenizer) -> Path:
    """safetensors + config + tokenizer of a full state dict (rank 0), loadable offline."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar per export drowns the run's own log
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True, assign=True)
    if getattr(model_config, "tie_word_embeddings", False):
        model.tie_weights()
    model.save_pretrained(hf, safe_serialization=True)
    tokenizer.save_pretrained(hf)
    return hf


def export_result(dest: Path, state_dict: dict, model_config, tokenizer, summary: dict) -> Path:
    """Write hf/ (safetensors + config + tokenizer) and train.json, then the marker."""
    if dest.exists():
        shutil.rmtree(dest)  # a partial result of an interrupted export
    hf = write_hf(dest / "hf", state_dict, model_config, tokenizer)
    write_json(dest / "train.json", {**summary, "hf_dir": str(hf.resolve())})
    mark_done(dest, {"name": summary["name"], "D": summary["D"]})
    return dest

"""The sampling engine against HF ``generate``: greedy parity, sampling statistics, stop rules.

    .venv/bin/python -m pytest tests/evaluation/test_sample.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from t2.evaluation.sample import sample, sample_detailed

PROMPTS = ["Q: 12+7=\nA: 19\nQ: 3+4=\nA:", "hello", "The quick brown fox jumps over the lazy"]


def _hf_greedy(model, tok, prompts, max_new):
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(**enc, do_sample=False, max_new_tokens=max_new,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return [row[enc["input_ids"].shape[1]:].tolist() for row in out]


def _strip_after_eos(ids, eos):
    return ids[:ids.index(eos) + 1] if eos in ids else ids


@pytest.mark.parametrize("share_prefix", [True, False])
def test_greedy_equals_hf_generate_token_for_token_alone_and_batched(tiny_model, share_prefix):
    model, tok = tiny_model
    ours = sample_detailed(model, tok, PROMPTS, 3, max_new_tokens=16, temperature=0,
                           share_prefix=share_prefix)
    batched = _hf_greedy(model, tok, PROMPTS, 16)
    for i, prompt in enumerate(PROMPTS):
        alone = _hf_greedy(model, tok, [prompt], 16)[0]
        want = _strip_after_eos(alone, tok.eos_token_id)
        assert _strip_after_eos(batched[i], tok.eos_token_id) == want
        assert ours.token_ids[i] == [want] * 3  # all n greedy copies equal generate's one
        assert ours.prompt_tokens[i] == len(tok(prompt, add_special_tokens=False)["input_ids"])


def test_shared_prefix_and_replicated_cache_draw_the_same_samples(tiny_model):
    model, tok = tiny_model
    kw = {"max_new_tokens": 12, "temperature": 1.0, "top_p": 0.9, "stop": ("e",),
          "seed": 5}
    shared = sample_detailed(model, tok, PROMPTS, 6, share_prefix=True, **kw)
    copied = sample_detailed(model, tok, PROMPTS, 6, share_prefix=False, **kw)
    assert shared.token_ids == copied.token_ids
    assert len({len(ids) for row in shared.token_ids for ids in row}) > 1, "rows should drop out"


def test_greedy_is_unchanged_when_a_tiny_memory_budget_splits_the_work(tiny_model):
    model, tok = tiny_model
    big = sample_detailed(model, tok, PROMPTS, 3, max_new_tokens=6, temperature=0)
    small = sample_detailed(model, tok, PROMPTS, 3, max_new_tokens=6, temperature=0,
                            batch_tokens_budget=50)
    assert small.token_ids == big.token_ids


def _expected_first_token_probs(model, tok, prompt, temperature, top_p):
    """HF's own processors (temperature, then top-p) on the prompt's next-token logits."""
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, -1, :]
    scores = TemperatureLogitsWarper(temperature)(ids, logits)
    scores = TopPLogitsWarper(top_p)(ids, scores)
    return scores.softmax(-1)[0].numpy()


def _chi_square_pvalue(counts, probs, min_expected=5.0):
    """Goodness of fit, pooling bins with small expectation into one."""
    expected = probs * counts.sum()
    big = expected >= min_expected
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    return stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue


def test_first_token_frequencies_match_hf_temperature_and_top_p_processors(tiny_model):
    model, tok = tiny_model
    prompt, temperature, top_p, n = PROMPTS[0], 0.05, 0.8, 2000
    probs = _expected_first_token_probs(model, tok, prompt, temperature, top_p)
    ids = sample_detailed(model, tok, [prompt], n, max_new_tokens=1, temperature=temperature,
                          top_p=top_p, eos_token_ids=[]).token_ids[0]
    counts = np.bincount([r[0] for r in ids], minlength=len(probs)).astype(float)
    assert counts[probs == 0].sum() == 0, "sampled a token that top-p removes"
    assert (probs > 0).sum() > 3, "test needs a non-degenerate nucleus"
    assert _chi_square_pvalue(counts, probs) > 1e-3


def test_second_token_frequencies_agree_with_hf_generate_samples(tiny_model):
    model, tok = tiny_model
    prompt, temperature, n = PROMPTS[1], 0.05, 1200
    ours = sample_detailed(model, tok, [prompt], n, max_new_tokens=2, temperature=temperature,
                           eos_token_ids=[], seed=1).token_ids[0]
    enc = tok([prompt], return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(0)
    hf = model.generate(**enc, do_sample=True, temperature=temperature, top_p=1.0, top_k=0,
                        max_new_tokens=2, min_new_tokens=2, num_return_sequences=n,
                        pad_token_id=tok.pad_token_id, eos_token_id=None)[:, -1].tolist()
    vocab = len(tok)
    a = np.bincount([r[1] for r in ours], minlength=vocab)
    b = np.bincount(hf, minlength=vocab)
    seen = (a + b) >= 10
    table = np.stack([np.append(a[seen], a[~seen].sum()), np.append(b[seen], b[~seen].sum())])
    table = table[:, table.sum(0) > 0]
    assert table.shape[1] > 3
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_stop_strings_end_each_sample_and_are_cut_from_its_text(tiny_model):
    model, tok = tiny_model
    stop = ("e", "a")
    got = sample_detailed(model, tok, PROMPTS, 6, max_new_tokens=20, temperature=1.5,
                          stop=stop, seed=3)
    num_stopped = 0
    for texts, ids_rows in zip(got.completions, got.token_ids):
        for text, ids in zip(texts, ids_rows):
            assert not any(s in text for s in stop)
            full = tok.decode(ids, skip_special_tokens=True)
            if any(s in full for s in stop):
                num_stopped += 1
                assert not any(s in tok.decode(ids[:-1], skip_special_tokens=True) for s in stop)
            else:
                assert len(ids) == 20 or ids[-1] == tok.eos_token_id
    assert num_stopped > 0


def test_samples_are_reproducible_per_seed_and_independent_of_batch_mates(tiny_model):
    model, tok = tiny_model
    kw = {"max_new_tokens": 8, "temperature": 1.0, "top_p": 0.95}
    together = sample(model, tok, PROMPTS, 5, seed=7, **kw)
    assert sample(model, tok, PROMPTS, 5, seed=7, **kw) == together
    assert sample(model, tok, PROMPTS[1:2], 5, seed=7, **kw)[0] == together[1]
    assert sample(model, tok, PROMPTS, 5, seed=8, **kw) != together
    assert len(set(together[0])) > 1, "samples of one prompt should differ"


@pytest.mark.parametrize("bad, match", [
    ({"n": 0}, "n must be"), ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "top_p"), ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"prompts": []}, "prompts"), ({"keys": ["a"]}, "keys"),
])
def test_bad_sampling_arguments_raise_value_error_naming_the_field(tiny_model, bad, match):
    model, tok = tiny_model
    args = {"prompts": PROMPTS, "n": 2, "max_new_tokens": 4} | bad
    with pytest.raises(ValueError, match=match):
        sample(model, tok, args.pop("prompts"), args.pop("n"), **args)


def test_shared_prefix_handles_grouped_query_attention_like_generate(tiny_model):
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tok = tiny_model
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    ours = sample_detailed(model, tok, PROMPTS, 2, max_new_tokens=10, temperature=0,
                           share_prefix=True)
    batched = _hf_greedy(model, tok, PROMPTS, 10)
    for i in range(len(PROMPTS)):
        assert ours.token_ids[i] == [_strip_after_eos(batched[i], tok.eos_token_id)] * 2

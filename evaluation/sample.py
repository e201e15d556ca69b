"""The sampling engine: n completions per prompt, each prompt prefilled once.

    from t2.evaluation.sample import sample, sample_detailed
    completions = sample(model, tokenizer, prompts, n=16, max_new_tokens=8,
                         temperature=1.0, top_p=0.95, stop=("\\n",), seed=0)
    completions[i][j]                      # j-th completion of prompt i (stop string cut off)

HF ``generate(num_return_sequences=k)`` copies every prompt k times before the forward pass, so a
few-shot prompt of a few hundred tokens is prefilled k times and its KV cache held k times.
Here several prompts are prefilled together (left padding, attention mask, position ids counted
over real tokens only, exactly as ``generate`` does), then each prompt fans out to ``n`` rows and
all prompts x samples decode together, one token per step. Two ways to fan out:

* shared prefix (default for models using transformers' attention interface, e.g. every t2
  checkpoint): the prompt KV stays one copy per prompt and decode attention reads it for all of
  the prompt's rows (``t2.evaluation.prefix_attention``); only generated tokens are cached per row.
* replicated (``share_prefix=False``, any causal LM): the cache rows are copied to n rows per
  prompt (``Cache.batch_select_indices`` with repeated indices) and decoded with the model's own
  attention.

Rows that hit EOS or a stop string leave the batch, so late steps only pay for live rows. Work is
split into batches whose cached tokens stay under ``batch_tokens_budget``.

Sampling follows HF's processor order (temperature, then top-p) and draws with the
exponential-race form of the categorical (argmax of p / Exp(1)), with one ``torch.Generator``
per prompt seeded from ``(seed, key)``: a prompt's samples do not depend on which other prompts
share its batch, so a rerun shard reproduces them. ``temperature=0`` is greedy decoding and
matches ``model.generate(do_sample=False)`` token for token.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass

import torch
from t2.evaluation.prefix_attention import (
    SharedPrefix,
    shared_prefix_attention,
    supports_shared_prefix,
)
from t2.infra.storage import hash8
from transformers import DynamicCache

DEFAULT_BATCH_TOKENS = 1 << 16


@dataclass(frozen=True)
class Samples:
    """What ``sample_detailed`` returns; every list is indexed [prompt][sample]."""

    completions: list[list[str]]     # text up to (not including) the first stop string
    token_ids: list[list[list[int]]]  # generated ids, the stop/EOS token included
    prompt_tokens: list[int]         # prompt length in tokens, per prompt

    @property
    def new_tokens(self) -> list[list[int]]:
        return [[len(ids) for ids in row] for row in self.token_ids]


def sample(model, tokenizer, prompts: list[str], n: int, **kwargs) -> list[list[str]]:
    """``n`` completions per prompt; keyword arguments as in ``sample_detailed``."""
    return sample_detailed(model, tokenizer, prompts, n, **kwargs).completions


def sample_detailed(model, tokenizer, prompts: list[str], n: int, *, max_new_tokens: int,
                    temperature: float = 1.0, top_p: float = 1.0, stop: tuple[str, ...] = (),
                    seed: int = 0, keys: list[str] | None = None,
                    eos_token_ids: list[int] | None = None,
                    batch_tokens_budget: int = DEFAULT_BATCH_TOKENS,
                    share_prefix: bool | None = None) -> Samples:
    """Draw ``n`` completions for each prompt; see the module docstring.

    ``keys`` name the prompts for seeding (default: the prompt text); ``eos_token_ids`` default
    to the model's generation config plus the tokenizer's EOS. ``share_prefix`` (default: when
    the model supports it) decodes against one copy of each prompt's KV instead of n copies.
    """
    _check_args(prompts, n, max_new_tokens, temperature, top_p, batch_tokens_budget, keys)
    keys = list(keys) if keys is not None else list(prompts)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ValueError("prompts: every prompt must encode to at least one token")
    eos = set(eos_token_ids) if eos_token_ids is not None else _default_eos(model, tokenizer)
    device = next(model.parameters()).device
    gens = [_generator(seed, k, device) if temperature > 0 else None for k in keys]
    out_ids: list[list[list[int]]] = [[] for _ in prompts]
    if share_prefix is None:
        share_prefix = supports_shared_prefix(model)
    decode = _Decoder(tokenizer, tuple(s for s in stop if s), eos)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for units in _plan_batches([len(e) for e in encoded], n, max_new_tokens,
                                       batch_tokens_budget, share_prefix):
                rows = _decode_batch(model, [encoded[i] for i, _ in units],
                                     [c for _, c in units], [gens[i] for i, _ in units],
                                     max_new_tokens, temperature, top_p, decode,
                                     _pad_id(tokenizer, eos), share_prefix)
                for (i, _), ids in zip(units, rows):
                    out_ids[i].extend(ids)
    finally:
        model.train(was_training)
    texts = [[decode.final_text(ids) for ids in row] for row in out_ids]
    return Samples(texts, out_ids, [len(e) for e in encoded])


def _check_args(prompts, n, max_new_tokens, temperature, top_p, budget, keys) -> None:
    if not prompts:
        raise ValueError("prompts: need at least one prompt")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if budget < 1:
        raise ValueError(f"batch_tokens_budget must be >= 1, got {budget}")
    if keys is not None and len(keys) != len(prompts):
        raise ValueError(f"keys: got {len(keys)} keys for {len(prompts)} prompts")


def _default_eos(model, tokenizer) -> set[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _pad_id(tokenizer, eos: set[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return min(eos) if eos else 0  # any id works: padded positions are masked out


def _generator(seed: int, key: str, device=None) -> torch.Generator:
    """A prompt's own generator, on the model's device so the race noise of every decode step
    is drawn where the logits are (a [rows, vocab] copy per step otherwise)."""
    g = torch.Generator(device=device or "cpu")
    g.manual_seed(int(hash8("sample", seed, key), 16))
    return g


def _plan_batches(prompt_lens: list[int], n: int, max_new: int, budget: int, shared: bool):
    """Yield lists of (prompt index, rows) whose cached tokens fit the budget.

    A unit caches its prompt once plus ``max_new`` tokens per row when the prefix is shared,
    else prompt + ``max_new`` tokens per row. A prompt whose n rows alone exceed the budget is
    split into several units (each prefilled on its own); otherwise its rows stay together.
    """
    batch, used = [], 0
    for i, length in enumerate(prompt_lens):
        fixed, per_row = (length, max_new) if shared else (0, length + max_new)
        rows_cap = max(1, (budget - fixed) // per_row)
        left = n
        while left > 0:
            rows = min(left, rows_cap)
            cost = fixed + rows * per_row
            if batch and used + cost > budget:
                yield batch
                batch, used = [], 0
            batch.append((i, rows))
            used += cost
            left -= rows
    if batch:
        yield batch


class _Decoder:
    """Turns generated ids into text and decides when a row is finished."""

    def __init__(self, tokenizer, stop: tuple[str, ...], eos: set[int]):
        self.tokenizer, self.stop, self.eos = tokenizer, stop, eos
        # A stop string of b bytes spans at most b tokens, and everything before the newest
        # token was checked at earlier steps: decoding this tail is enough (not the whole row).
        self.window = 1 + max((len(s.encode()) for s in stop), default=0)

    def finished(self, rows: list[list[int]]) -> list[bool]:
        done = [bool(r) and r[-1] in self.eos for r in rows]
        if self.stop:
            live = [i for i, d in enumerate(done) if not d]
            texts = self.tokenizer.batch_decode([rows[i][-self.window:] for i in live],
                                                skip_special_tokens=True)
            for i, text in zip(live, texts):
                done[i] = any(s in text for s in self.stop)
        return done

    def final_text(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in self.stop if s in text), default=len(text))
        return text[:cut]


def _next_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                 gens: list[torch.Generator | None], counts: list[int]) -> torch.Tensor:
    """One token per row. Rows are grouped by prompt in order; ``counts`` gives group sizes."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits.float() / temperature
    if top_p < 1:
        scores = _top_p_filter(scores, top_p)
    probs = scores.softmax(dim=-1)
    race = torch.cat([torch.empty(c, probs.shape[-1], device=g.device).exponential_(generator=g)
                      for g, c in zip(gens, counts) if c > 0]).to(probs.device)
    return (probs / race).argmax(dim=-1)


def _top_p_filter(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches ``top_p`` (at least one)."""
    ordered, order = scores.sort(dim=-1, descending=True)
    mass_before = ordered.softmax(dim=-1).cumsum(dim=-1) - ordered.softmax(dim=-1)
    drop_sorted = mass_before >= top_p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


@functools.cache
def _cache_kwarg(model_cls) -> str:
    params = inspect.signature(model_cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _forward(model, cache, **inputs) -> tuple[torch.Tensor, object]:
    """Last-position logits and the KV cache; transformers 5 renamed ``past_key_values``."""
    name = _cache_kwarg(type(model))
    if cache is not None:
        inputs[name] = cache
    out = model(**inputs, use_cache=True)
    return out.logits[:, -1, :], out[name]


def _decode_batch(model, prompts: list[list[int]], counts: list[int], gens: list,
                  max_new: int, temperature: float, top_p: float, decode: _Decoder,
                  pad_id: int, share_prefix: bool) -> list[list[list[int]]]:
    """Prefill ``prompts`` once, fan each out to ``counts`` rows, decode until all finish."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, cache = _forward(model, None, input_ids=ids, attention_mask=mask,
                             position_ids=positions, logits_to_keep=1)
    owner = torch.repeat_interleave(torch.arange(len(prompts), device=device),
                                    torch.tensor(counts, device=device))
    logits, next_pos = logits[owner], positions[owner, -1] + 1
    if share_prefix:  # the prompt KV stays one copy; a fresh cache holds generated tokens only
        prefix = SharedPrefix.from_cache(cache, mask, owner)
        cache, mask, extra = DynamicCache(config=model.config), None, {"t2_prefix": prefix}
        attention = shared_prefix_attention(model)
    else:             # n real copies of each prompt's KV
        cache.batch_select_indices(owner)
        mask, extra, attention = mask[owner], {}, contextlib.nullcontext()
    live = owner.tolist()                         # row -> prompt index, for live rows
    row_slot = list(range(len(live)))             # row -> output slot
    generated: list[list[int]] = [[] for _ in live]
    with attention:
        for step in range(max_new):
            live_counts = [live.count(p) for p in range(len(prompts))]
            tokens = _next_tokens(logits, temperature, top_p, gens, live_counts)
            for slot, tok in zip(row_slot, tokens.tolist()):
                generated[slot].append(tok)
            done = decode.finished([generated[s] for s in row_slot])
            if step == max_new - 1 or all(done):
                break
            keep = [i for i, d in enumerate(done) if not d]
            if len(keep) < len(done):  # finished rows leave the batch
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                tokens, next_pos = tokens[index], next_pos[index]
                live = [live[i] for i in keep]
                row_slot = [row_slot[i] for i in keep]
                if share_prefix:
                    prefix.set_rows(torch.tensor(live, device=device))
                else:
                    mask = mask[index]
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones(len(keep), 1)], dim=-1)
            logits, cache = _forward(model, cache, input_ids=tokens[:, None], attention_mask=mask,
                                     position_ids=next_pos[:, None], **extra)
            next_pos = next_pos + 1
    result: list[list[list[int]]] = []
    first = 0
    for c in counts:
        result.append(generated[first:first + c])
        first += c
    return result

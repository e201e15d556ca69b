"""Gold-answer likelihoods: the cheap, sampling-free measurement of every (checkpoint, problem).

    from t2.evaluation.likelihood import gold_logprobs
    rows = gold_logprobs(model, tokenizer, problems, batch_size=16)
    rows[i]["nll"]          # -log P(answers[0] | prompt), summed over the answer's tokens
    rows[i]["choice_nll"]   # multiple choice: the same per choice; "mc_correct": argmin is gold

``p_i = exp(-nll_i)`` is the single-sample success probability used by likelihood pass@k
(``t2.evaluation.passk.pass_at_k_from_p``).

Tokenization boundary: t2.models.answer_tokens (shared with post-training, which trains on
exactly the tokens scored here). Prompts longer than the model's
``max_position_embeddings`` lose tokens from the left (the few-shot examples go first).
Sequences are sorted by length and right-padded within a batch; padding sits after every scored
position, so under the causal mask it cannot change a score (checked against unbatched scoring
in tests/evaluation/test_likelihood.py).
"""

from __future__ import annotations

import math

import torch
from t2.evaluation.tasks import Problem
from t2.models.answer_tokens import split_tokens, truncate_context


@torch.inference_mode()
def _score_batch(model, batch: list[tuple[list[int], list[int]]], pad_id: int) -> list[float]:
    """Summed NLL of each answer given its context, for one right-padded batch."""
    device = next(model.parameters()).device
    width = max(len(c) + len(a) for c, a in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (context, answer) in enumerate(batch):
        seq = context + answer
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    out = []
    for row, (context, answer) in enumerate(batch):
        # the token at position t is predicted by the logits at t - 1
        positions = torch.arange(len(context) - 1, len(context) + len(answer) - 1, device=device)
        targets = torch.tensor(answer, device=device)
        out.append(-float(logprobs[row, positions, targets].sum()))
    return out


def score_pairs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 16,
                max_length: int | None = None) -> list[tuple[float, int]]:
    """(NLL, number of answer tokens) of each (prompt, answer) pair."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length is None:
        max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    encoded = []
    for prompt, answer in pairs:
        context, answer_ids = split_tokens(tokenizer, prompt, answer)
        encoded.append((truncate_context(context, answer_ids, max_length), answer_ids))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    nll = [math.nan] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        for i, value in zip(chunk, _score_batch(model, [encoded[i] for i in chunk], pad_id)):
            nll[i] = value
    return [(nll[i], len(encoded[i][1])) for i in range(len(encoded))]


def gold_logprobs(model, tokenizer, problems: list[Problem], batch_size: int = 16,
                  max_length: int | None = None) -> list[dict]:
    """Per problem: ``nll``, ``num_answer_tokens``; multiple choice adds ``choice_nll``,
    ``choice_num_tokens`` and ``mc_correct`` (the lowest-NLL choice is the gold one)."""
    pairs, spans = [], []
    for problem in problems:
        options = problem.choices if problem.choices is not None else problem.answers[:1]
        spans.append((len(pairs), len(options)))
        pairs.extend((problem.prompt, option) for option in options)
    scores = score_pairs(model, tokenizer, pairs, batch_size=batch_size, max_length=max_length)
    rows = []
    for problem, (start, count) in zip(problems, spans):
        chunk = scores[start:start + count]
        if problem.choices is None:
            rows.append({"nll": chunk[0][0], "num_answer_tokens": chunk[0][1]})
            continue
        choice_nll = [s[0] for s in chunk]
        gold = problem.gold_index
        rows.append({"nll": choice_nll[gold], "num_answer_tokens": chunk[gold][1],
                     "choice_nll": choice_nll, "choice_num_tokens": [s[1] for s in chunk],
                     "mc_correct": min(range(count), key=choice_nll.__getitem__) == gold})
    return rows

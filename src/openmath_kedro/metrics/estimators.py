"""Per-problem estimators: the majority vote over answer clusters and the unbiased pass@k."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MajorityVote:
    """The outcome of a vote among the first ``k`` samples of one problem.

    ``winner`` is None when none of the k samples has an answer. ``tied`` counts the clusters that share
    the top vote count (1: no tie; more: the tie rule picked ``winner``).
    """

    winner: Hashable | None
    votes: int
    tied: int
    answered: int  # samples among the first k that have an answer (and so voted)
    k: int


def majority_vote(*, labels: Sequence[Hashable | None], k: int) -> MajorityVote:
    """Majority vote among the first ``k`` samples; ``labels`` are cluster labels in sample order.

    A None label is a sample without an answer: it does not vote. Tie rule: among the clusters with the
    most votes, the winner is the one whose first vote comes earliest (lowest sample position), so the
    result is deterministic and does not depend on how clusters are numbered.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > len(labels):
        raise ValueError(f"majority@{k} needs {k} samples, but the problem has {len(labels)}")
    counts: dict[Hashable, int] = {}
    for label in labels[:k]:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1  # dicts keep first-vote order: the tie rule
    if not counts:
        return MajorityVote(winner=None, votes=0, tied=0, answered=0, k=k)
    top = max(counts.values())
    leaders = [label for label, count in counts.items() if count == top]
    return MajorityVote(winner=leaders[0], votes=top, tied=len(leaders), answered=sum(counts.values()), k=k)


def pass_at_k(*, n: int, correct: int, k: int) -> float:
    """The unbiased pass@k estimate from ``n`` samples of which ``correct`` are correct (Chen et al. 2021).

    ``1 - C(n - c, k) / C(n, k)``, the probability that k samples drawn without replacement from the n
    contain a correct one, computed as the product ``1 - prod_{i=n-c+1}^{n} (1 - k / i)`` so that no
    binomial coefficient (astronomically large for n = 200) is ever formed.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, but the problem has {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, n={n}], got {correct}")
    if n - correct < k:
        return 1.0  # every k-subset contains a correct sample
    miss = 1.0
    for i in range(n - correct + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss

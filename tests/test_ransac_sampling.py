"""Successive sampling without replacement: exact subset distribution, fillers, edge cases."""

import collections
import itertools

import pytest
import torch

import mapfree.robust.sampling as sampling
from mapfree.robust.sampling import sample_without_replacement

WEIGHTS = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05, 0.0, 1e-3])


def successive_sampling_probabilities(w: torch.Tensor, k: int) -> dict[frozenset, float]:
    """P(subset) under one-by-one draws proportional to the remaining weights, by enumeration."""
    probs: dict[frozenset, float] = collections.defaultdict(float)
    for order in itertools.permutations(range(len(w)), k):
        p, left = 1.0, float(w.sum())
        for i in order:
            p *= float(w[i]) / left
            left -= float(w[i])
        probs[frozenset(order)] += p
    return probs


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("sparse_iterations", [sampling.MAX_ITERATIONS, 1, 0])
def test_subset_frequencies_match_successive_sampling(k, sparse_iterations, monkeypatch):
    """Also with the sparse phase cut short (1) or skipped (0): the dense finish continues exactly."""
    monkeypatch.setattr(sampling, "MAX_ITERATIONS", sparse_iterations)
    draws = 20000
    idx, valid = sample_without_replacement(WEIGHTS.expand(4, -1), k, draws // 4, torch.Generator().manual_seed(k))
    assert idx.shape == (4, draws // 4, k) and valid.all()
    counts = collections.Counter(frozenset(s) for s in idx.reshape(-1, k).tolist())
    expected = successive_sampling_probabilities(WEIGHTS, k)
    assert set(counts) <= {s for s, p in expected.items() if p > 0}
    for subset, p in expected.items():
        sigma = (p * (1 - p) / draws) ** 0.5
        assert abs(counts[subset] / draws - p) < 5 * sigma + 1e-4, (subset, counts[subset] / draws, p)


def test_peaked_weights_give_distinct_positive_items():
    """A few heavy items and a light tail: subsets larger than the heavy set stay distinct."""
    g = torch.Generator().manual_seed(1)
    w = torch.rand(3, 50000, generator=g) * 1e-9
    heavy = torch.randint(0, 50000, (3, 300), generator=g)
    w.scatter_(1, heavy, torch.rand(3, 300, generator=g) + 0.1)
    idx, valid = sample_without_replacement(w, 512, 5, g)
    assert idx.shape == (3, 5, 512) and valid.all()
    for row in idx.reshape(-1, 512):
        assert len(set(row.tolist())) == 512
    for b in range(3):  # every heavy item is drawn before almost any tail item
        assert torch.isin(heavy[b], idx[b]).float().mean() > 0.99


def test_few_positive_weights_return_all_of_them_plus_invalid_fillers():
    w = torch.tensor([[0.0, 2.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    idx, valid = sample_without_replacement(w, 3, 4)
    assert valid[0].sum(-1).tolist() == [2] * 4 and valid[1].all()
    for row, ok in zip(idx[0], valid[0]):
        assert set(row[ok].tolist()) == {1, 3}


def test_zero_and_tiny_populations():
    idx, valid = sample_without_replacement(torch.zeros(2, 6), 3, 2)
    assert idx.shape == (2, 2, 3) and not valid.any()
    idx, valid = sample_without_replacement(torch.ones(2, 0, 4), 3, 5)
    assert idx.shape == (2, 0, 5, 3)
    idx, valid = sample_without_replacement(torch.ones(1, 2), 3, 1)
    assert idx.shape == (1, 1, 2) and valid.all()


def test_generator_makes_draws_reproducible():
    w = torch.rand(2, 1000)
    a, _ = sample_without_replacement(w, 100, 3, torch.Generator().manual_seed(9))
    b, _ = sample_without_replacement(w, 100, 3, torch.Generator().manual_seed(9))
    assert torch.equal(a, b)

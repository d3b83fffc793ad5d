"""Signal-to-noise against the null of no relationship: uniform relationships count, noise does not."""

from __future__ import annotations

import numpy as np

from taskgroup.affinity.matrix import AffinityMatrix, is_informative, signal_to_noise, spread_to_noise


def _sym(n: int, value: float) -> np.ndarray:
    m = np.full((n, n), value)
    np.fill_diagonal(m, 1.0)
    return m


def test_identical_tasks_are_informative():
    m, se = _sym(3, 0.99), np.full((3, 3), 0.01)
    assert spread_to_noise(m, se) == 0.0          # the old figure saw nothing: no spread
    assert signal_to_noise(m, se) > 50 and is_informative(m, se)


def test_two_tasks_with_a_strong_affinity_are_informative():
    m, se = _sym(2, 0.8), np.full((2, 2), 0.05)
    assert is_informative(m, se)
    assert AffinityMatrix("gradient_cosine", ["a", "b"], m, se).to_dict()["informative"] is True
    assert not is_informative(_sym(2, 0.02), se)


def test_pure_noise_is_not_informative():
    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(300):
        n = int(rng.integers(2, 8))
        se = np.full((n, n), rng.uniform(0.01, 0.2))
        noise = rng.normal(0.0, 1.0, (n, n)) * se
        m = (noise + noise.T) / np.sqrt(2)          # symmetric noise keeps the entries' standard error
        flagged += is_informative(m, se)
        asym = rng.normal(0.0, 1.0, (n, n)) * se   # an asymmetric measure (lookahead, transfer)
        flagged += is_informative(asym, se)
    assert flagged / 600 < 0.03


def test_differences_between_pairs_still_count():
    rng = np.random.default_rng(1)
    clusters = np.array([0, 0, 0, 1, 1, 1])
    m = np.where(clusters[:, None] == clusters[None, :], 0.3, -0.3) + rng.normal(0, 0.02, (6, 6))
    se = np.full((6, 6), 0.05)
    assert spread_to_noise(m, se) > 3 and is_informative(m, se)

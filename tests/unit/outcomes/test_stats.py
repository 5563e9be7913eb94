"""The back-test's statistics against brute force and reference values (SciPy's, noted)."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.outcomes.stats import (
    beta_cdf,
    chi2_survival,
    discrimination,
    hosmer_lemeshow,
    jeffreys_interval,
)


def _pairwise_auc(p: np.ndarray, y: np.ndarray) -> float:
    bad, good = p[y], p[~y]
    wins = (bad[:, None] > good[None, :]).sum() + 0.5 * (bad[:, None] == good[None, :]).sum()
    return float(wins / (bad.size * good.size))


def _ks(p: np.ndarray, y: np.ndarray) -> float:
    cuts = np.unique(p)
    bad = np.searchsorted(np.sort(p[y]), cuts, side="right") / y.sum()
    good = np.searchsorted(np.sort(p[~y]), cuts, side="right") / (~y).sum()
    return float(np.max(np.abs(bad - good)))


def test_auc_gini_ks_equal_brute_force_with_ties() -> None:
    rng = np.random.default_rng(3)
    p = np.round(rng.random(1500), 2)  # many ties
    y = rng.random(1500) < p
    found = discrimination(p, y, resamples=50)
    assert found.auc == pytest.approx(_pairwise_auc(p, y), abs=1e-12)
    assert found.gini == pytest.approx(2 * _pairwise_auc(p, y) - 1, abs=1e-12)
    assert found.ks == pytest.approx(_ks(p, y), abs=1e-12)
    assert found.auc_interval[0] < found.auc < found.auc_interval[1]
    assert found.ks_interval[0] < found.ks < found.ks_interval[1]


def test_bootstrap_interval_narrows_with_more_outcomes_and_merging_keeps_its_centre() -> None:
    rng = np.random.default_rng(4)
    widths = []
    for n in (2_000, 50_000):  # 50,000 distinct values: merged into fewer groups
        p = rng.random(n)
        y = rng.random(n) < p
        found = discrimination(p, y, resamples=100)
        low, high = found.auc_interval
        assert low < found.auc < high
        assert abs((low + high) / 2 - found.auc) < (high - low) / 4
        widths.append(high - low)
    # The interval shrinks as 1/sqrt(n): 25 times the outcomes, a fifth of the width.
    assert widths[1] == pytest.approx(widths[0] / 5, rel=0.3)


def test_one_kind_of_outcome_has_no_auc() -> None:
    found = discrimination(np.array([0.1, 0.2]), np.array([False, False]))
    assert np.isnan(found.auc)
    assert found.as_dict()["auc"] is None


@pytest.mark.parametrize(
    ("defaults", "n", "expected"),
    [
        # scipy.stats.beta.ppf([0.025, 0.975], d + 0.5, n - d + 0.5)
        (3, 50, (0.017186649071391003, 0.15153256302755835)),
        (300, 5000, (0.05367056537625, 0.06683860206840)),
    ],
)
def test_jeffreys_interval_matches_the_beta_quantiles(
    defaults: int, n: int, expected: tuple[float, float]
) -> None:
    assert jeffreys_interval(defaults, n) == pytest.approx(expected, abs=1e-10)


def test_jeffreys_interval_ends_at_zero_and_all_defaults() -> None:
    assert jeffreys_interval(0, 40)[0] == 0.0
    assert jeffreys_interval(40, 40)[1] == 1.0
    assert beta_cdf(0.3, 2.0, 5.0) == pytest.approx(0.579825, abs=1e-6)  # closed form


@pytest.mark.parametrize(
    ("statistic", "dof", "expected"),
    # scipy.stats.chi2.sf(statistic, dof)
    [(12.3, 8, 0.13831215638282776), (3.1, 8, 0.9279260324065803), (300, 8, 4.1177947541e-60)],
)
def test_chi2_survival_matches_reference(statistic: float, dof: int, expected: float) -> None:
    assert chi2_survival(statistic, dof) == pytest.approx(expected, rel=1e-9)


def test_hosmer_lemeshow_accepts_calibrated_and_rejects_doubled_risk() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(1.2, 5, 20_000)
    assert hosmer_lemeshow(p, rng.random(p.size) < p).p_value > 0.01
    assert hosmer_lemeshow(p, rng.random(p.size) < 2 * p).p_value < 1e-10


def test_jeffreys_interval_holds_for_a_million_outcomes() -> None:
    # scipy.stats.beta.ppf([0.0005, 0.9995], 50000.5, 950000.5)
    assert jeffreys_interval(50_000, 1_000_000, 0.999) == pytest.approx(
        (0.049286242337529984, 0.05072055416121657), abs=1e-10
    )

"""The readings' sort order (bot.core.forecast.history.by_offer_then_time): the same
as np.lexsort's, whether the rows come grouped and in time order or not."""

from __future__ import annotations

import numpy as np
import pytest

from bot.core.forecast.history import by_offer_then_time


def _rows(rng: np.random.Generator, shuffled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offers = np.repeat(rng.integers(1, 50, 40), rng.integers(1, 8, 40))
    seconds = np.round(rng.integers(0, 20, len(offers)) * 0.5, 3)  # ties on purpose
    later = rng.random(len(offers)) < 0.3
    if shuffled:
        order = rng.permutation(len(offers))
        return offers[order], seconds[order], later[order]
    grouped = np.lexsort((later, seconds, offers))  # as the database usually gives them
    return offers[grouped], seconds[grouped], later[grouped]


@pytest.mark.parametrize("shuffled", [False, True])
def test_the_order_is_lexsorts(shuffled: bool) -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        offers, seconds, later = _rows(rng, shuffled)
        assert by_offer_then_time(offers, seconds, later).tolist() == (
            np.lexsort((later, seconds, offers)).tolist()
        )
        assert by_offer_then_time(offers, seconds).tolist() == (
            np.lexsort((seconds, offers)).tolist()
        )


def test_a_late_row_out_of_time_order_is_put_in_its_place() -> None:
    offers = np.array([3, 3, 3, 5, 5, 3])
    seconds = np.array([1.0, 2.0, 4.0, 1.0, 2.0, 3.0])
    later = np.array([False, False, False, False, False, True])
    assert by_offer_then_time(offers, seconds, later).tolist() == [0, 1, 5, 2, 3, 4]
    assert by_offer_then_time(np.zeros(0, np.int64), np.zeros(0)).tolist() == []

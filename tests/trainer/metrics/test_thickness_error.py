import math

import pytest

from trainer.metrics import thickness_error

ROWS = [
    {"true_mm": 100.0, "measured_mm": 110.0, "quality": "GOOD"},  # +10 mm, 10 %
    {"true_mm": 50.0, "measured_mm": 48.0, "quality": "GOOD"},  # -2 mm, 4 %
    {"true_mm": 40.0, "measured_mm": 100.0, "quality": "UNCERTAIN"},  # +60 mm, 150 %
    {"true_mm": 210.0, "measured_mm": None, "quality": "BAD"},  # not measured
]


def test_figures_match_hand_computation() -> None:
    summary = thickness_error(ROWS)
    assert summary["scenes"] == 4 and summary["measured"] == 3
    assert summary["mae_mm"] == pytest.approx((10 + 2 + 60) / 3)
    assert summary["mae_percent"] == pytest.approx((10 + 4 + 150) / 3)
    assert summary["median_percent"] == pytest.approx(10.0)
    # MAE in mm over the mean true thickness of the measured scenes: 24 / (190 / 3).
    assert summary["mae_percent_of_mean_true"] == pytest.approx(100 * 24 / (190 / 3))
    assert summary["bias_mm"] == pytest.approx((10 - 2 + 60) / 3)
    assert summary["max_abs_error_mm"] == pytest.approx(60.0)
    assert summary["quality"] == {"GOOD": 2, "UNCERTAIN": 1, "BAD": 1}
    good = summary["good"]
    assert good["scenes"] == 2
    assert good["mae_percent"] == pytest.approx(7.0)
    assert good["median_percent"] == pytest.approx(7.0)
    assert good["mae_percent_of_mean_true"] == pytest.approx(100 * 6 / 75)


def test_no_measured_scene_gives_nan_not_an_error() -> None:
    summary = thickness_error([{"true_mm": 10.0, "measured_mm": None, "quality": "BAD"}])
    assert summary["measured"] == 0 and math.isnan(summary["mae_percent"])
    assert summary["good"]["scenes"] == 0 and math.isnan(summary["good"]["median_percent"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"true_mm": 0.0, "measured_mm": 1.0, "quality": "GOOD"}, "row 0: true_mm"),
        ({"true_mm": 5.0, "measured_mm": math.nan, "quality": "GOOD"}, "row 0: measured_mm"),
        ({"true_mm": 5.0, "measured_mm": 5.0, "quality": "FINE"}, "row 0: quality"),
    ],
)
def test_bad_rows_are_named(row: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        thickness_error([row])

"""DipCycleAggregator: one stable measurement per dip cycle from a stream of per-frame results."""

from __future__ import annotations

import math

import pytest

from edge.measure import (
    DipCycleAggregator,
    DipCycleConfig,
    MeasureQuality,
    SlagCycleMeasurement,
    SlagMeasurement,
)

GOOD = MeasureQuality.good()
BAD = MeasureQuality.bad("no slag band found")
NAN = float("nan")


def feed(aggregator: DipCycleAggregator, frames: list[tuple]) -> list[tuple[int, SlagCycleMeasurement]]:
    """Feed ``(thickness, quality, tube_in_view)`` frames 100 ms apart; returns (frame index, emission)."""
    emitted = []
    for index, (thickness, quality, in_view) in enumerate(frames):
        result = aggregator.add(thickness, quality, 1_000 + 100 * index, in_view)
        if result is not None:
            emitted.append((index, result))
    return emitted


def test_a_stream_of_two_dip_cycles() -> None:
    aggregator = DipCycleAggregator(
        DipCycleConfig(k_frames=5, tolerance_mm=5.0, tolerance_pct=3.0, leave_frames=3)
    )
    frames = [
        (NAN, MeasureQuality.bad("no tube in view"), False),  # 0: nothing yet
        (NAN, BAD, True),  # 1: the tube enters, no band yet
        (140.0, GOOD, True),  # 2: noisy frames: spread 40 mm > tolerance
        (180.0, GOOD, True),
        (150.0, GOOD, True),
        (152.0, GOOD, True),
        (151.0, GOOD, True),  # 6: window 2..6 still holds 180
        (NAN, BAD, True),  # 7: one BAD frame breaks the run
        (150.0, GOOD, True),  # 8..12: five stable frames -> emit at 12
        (152.0, GOOD, True),
        (149.0, GOOD, True),
        (151.0, GOOD, True),
        (150.5, GOOD, True),
        (150.0, GOOD, True),  # 13..14: same cycle, no second emission
        (151.0, GOOD, True),
        (NAN, BAD, False),  # 15..16: out of view for two frames only: same cycle
        (NAN, BAD, False),
        (150.0, GOOD, True),  # 17..21: stable again, but the cycle already emitted
        (150.0, GOOD, True),
        (150.0, GOOD, True),
        (150.0, GOOD, True),
        (150.0, GOOD, True),
        (NAN, BAD, False),  # 22..24: three frames out of view end the cycle
        (NAN, BAD, False),
        (NAN, BAD, False),
        (200.0, GOOD, True),  # 25..29: the next cycle; 3 % of 200 = 6 mm > 5 mm tolerance
        (205.0, GOOD, True),
        (201.0, GOOD, True),
        (199.5, GOOD, True),
        (203.0, GOOD, True),
    ]
    emitted = feed(aggregator, frames)
    assert [index for index, _ in emitted] == [12, 29]
    first, second = emitted[0][1], emitted[1][1]
    assert first == SlagCycleMeasurement(
        thickness_mm=150.5,
        spread_mm=3.0,
        std_mm=pytest.approx(1.0),
        frames=5,
        first_ts=1_800,
        last_ts=2_200,
        cycle=1,
        quality=GOOD,
    )
    assert (second.thickness_mm, second.spread_mm, second.first_ts, second.last_ts, second.cycle) == (
        201.0,
        5.5,
        3_500,
        3_900,
        2,
    )
    assert aggregator.cycle == 2 and aggregator.in_cycle
    payload = second.as_payload()
    assert payload == {
        "thickness_mm": 201.0,
        "spread_mm": 5.5,
        "std_mm": pytest.approx(second.std_mm),
        "frames": 5,
        "first_ts": 3_500,
        "last_ts": 3_900,
        "cycle": 2,
        "unit": "mm",
        "quality": "GOOD",
        "quality_code": 192,
        "quality_reason": "",
    }


def test_uncertain_frames_break_the_run_and_updates_can_be_enabled() -> None:
    stable = [(100.0, GOOD, True)] * 4
    aggregator = DipCycleAggregator(DipCycleConfig(k_frames=3, emit_updates=True))
    emitted = feed(aggregator, [*stable[:2], (100.0, "UNCERTAIN", True), *stable])
    assert [index for index, _ in emitted] == [5, 6]  # three GOOD after the UNCERTAIN one, then an update
    assert all(result.cycle == 1 and result.frames == 3 for _, result in emitted)


def test_add_measurement_uses_the_frame_fields() -> None:
    aggregator = DipCycleAggregator(DipCycleConfig(k_frames=2))
    frame = SlagMeasurement(
        thickness_mm=80.0,
        p10_mm=79.0,
        p90_mm=81.0,
        lines=200,
        coverage=1.0,
        confidence=math.nan,
        axis_angle_deg=0.0,
        axis_source="calibration",
        quality=GOOD,
        tube_in_view=True,
    )
    assert aggregator.add_measurement(frame, 10) is None
    result = aggregator.add_measurement(frame, 20)
    assert (
        result is not None and result.thickness_mm == 80.0 and (result.first_ts, result.last_ts) == (10, 20)
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k_frames": 0}, "k_frames"),
        ({"leave_frames": 1.5}, "leave_frames"),
        ({"tolerance_mm": -1.0}, "tolerance_mm"),
        ({"tolerance_pct": float("nan")}, "tolerance_pct"),
        ({"emit_updates": "yes"}, "emit_updates"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DipCycleConfig(**kwargs)

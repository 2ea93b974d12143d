"""MeasureQuality: the three levels, their Sparkplug codes, combining and the payload fields."""

from __future__ import annotations

import json

import pytest

from edge.measure.quality import MeasureQuality, QualityCode


def test_constructors_and_codes() -> None:
    good, uncertain, bad = MeasureQuality.good(), MeasureQuality.uncertain("u"), MeasureQuality.bad("b")
    assert (good.code, good.sparkplug, good.reason) == ("GOOD", 192, "")
    assert (uncertain.code, uncertain.sparkplug, uncertain.reason) == ("UNCERTAIN", 64, "u")
    assert (bad.code, bad.sparkplug, bad.reason) == ("BAD", 0, "b")
    assert good.is_good and not uncertain.is_good and not bad.is_good
    assert [code.sparkplug for code in QualityCode] == [192, 64, 0]
    assert MeasureQuality("BAD", 0, "b") == bad and isinstance(
        MeasureQuality("BAD", 0, "b").code, QualityCode
    )


def test_worst() -> None:
    good, uncertain, bad = MeasureQuality.good(), MeasureQuality.uncertain("u"), MeasureQuality.bad("b")
    assert MeasureQuality.worst(good, uncertain) == uncertain
    assert MeasureQuality.worst(bad, uncertain) == bad
    assert MeasureQuality.worst(uncertain, bad) == bad
    assert MeasureQuality.worst(good, good) == good
    joined = MeasureQuality.worst(uncertain, MeasureQuality.uncertain("v"))
    assert joined == MeasureQuality.uncertain("u; v")
    assert MeasureQuality.worst(joined, MeasureQuality.uncertain("v")) == joined


def test_payload_fields_are_plain_json() -> None:
    payload = MeasureQuality.uncertain("scale check").as_payload()
    assert payload == {"quality": "UNCERTAIN", "quality_code": 64, "quality_reason": "scale check"}
    assert type(payload["quality"]) is str
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("FINE", 192, ""), "code"),
        (("GOOD", 64, ""), "sparkplug must be 192"),
        (("BAD", 0, ""), "needs a reason"),
    ],
)
def test_inconsistent_qualities_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MeasureQuality(*args)

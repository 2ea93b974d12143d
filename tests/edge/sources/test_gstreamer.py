"""GStreamer pipeline strings for CSI cameras and RTSP streams (pure string checks)."""

from __future__ import annotations

import pytest

from edge.sources import SourceError, csi_pipeline, gstreamer_pipeline, opencv_has_gstreamer, rtsp_pipeline


def _stages(pipeline: str) -> list[str]:
    return [stage.strip() for stage in pipeline.split(" ! ")]


def test_csi_pipeline_asks_the_sensor_and_ends_in_a_dropping_bgr_appsink() -> None:
    stages = _stages(csi_pipeline(sensor_id=1, width=1280, height=720, fps=60, flip_method=2))
    assert stages[0] == "nvarguscamerasrc sensor-id=1"
    assert stages[1] == (
        "video/x-raw(memory:NVMM), width=(int)1280, height=(int)720, "
        "framerate=(fraction)60/1, format=(string)NV12"
    )
    assert stages[2] == "nvvidconv flip-method=2"
    assert stages[3] == "video/x-raw, width=(int)1280, height=(int)720, format=(string)BGRx"
    assert stages[4:] == [
        "videoconvert",
        "video/x-raw, format=(string)BGR",
        "appsink drop=true max-buffers=1 sync=false",
    ]


def test_csi_pipeline_defaults_and_fractional_rate() -> None:
    assert "width=(int)1920, height=(int)1080, framerate=(fraction)30/1" in csi_pipeline()
    assert "framerate=(fraction)2997/100" in csi_pipeline(fps=29.97)
    with pytest.raises(ValueError, match="flip_method"):
        csi_pipeline(flip_method=8)


def test_rtsp_pipeline_is_low_latency() -> None:
    stages = _stages(rtsp_pipeline("rtsp://cam/stream", latency_ms=80))
    assert stages == [
        'rtspsrc location="rtsp://cam/stream" latency=80',
        "decodebin",
        "videoconvert",
        "video/x-raw, format=(string)BGR",
        "appsink drop=true max-buffers=1 sync=false",
    ]


def test_rtsp_pipeline_options_and_quoting() -> None:
    pipeline = rtsp_pipeline('rtsp://u:p"w@cam/s', tcp=True, width=640, height=480, fps=5)
    assert pipeline.startswith(
        'rtspsrc location="rtsp://u:p\\"w@cam/s" latency=200 protocols=tcp ! decodebin'
    )
    assert (
        "videorate drop-only=true max-rate=5 ! videoscale ! video/x-raw, format=(string)BGR, width=(int)640"
        in pipeline
    )


def test_pipeline_from_uri_uses_its_options_and_keyword_overrides() -> None:
    assert gstreamer_pipeline("csi://2?width=1640&height=1232&fps=30&flip=1") == csi_pipeline(
        2, 1640, 1232, 30, 1
    )
    assert "width=(int)640" in gstreamer_pipeline("csi://0?width=1280&height=720", width=640, height=480)
    assert gstreamer_pipeline("rtsp://cam/s?ch=1#latency=0&tcp") == rtsp_pipeline(
        "rtsp://cam/s?ch=1", 0, True
    )
    with pytest.raises(SourceError, match=r"file:///x.mp4: file:// sources have no GStreamer pipeline"):
        gstreamer_pipeline("file:///x.mp4")


def test_gstreamer_detection_reads_the_build_information() -> None:
    import cv2

    line = next(line for line in cv2.getBuildInformation().splitlines() if "GStreamer:" in line)
    assert opencv_has_gstreamer() == ("YES" in line)

"""Live sources: reopen with capped backoff, gaps recorded, sequence numbers run on, stop is prompt.

The live sources here are real files and folders opened with ``?live=1`` whose backing path
vanishes and comes back while the source runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from edge.frame import Frame
from edge.sources import FrameSource, ReconnectingSource, ReconnectPolicy, SourceError, open_source
from edge.sources.gstreamer import opencv_has_gstreamer
from tests.edge.sources.conftest import frame_pixels, write_images, write_video

FAST = ReconnectPolicy(initial_s=0.05, max_s=0.2, factor=2.0, stall_s=2.0)


def _later(delay: float, action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def _read(source: FrameSource) -> tuple[Frame | None, float]:
    """The next frame (or ``None``) and the seconds it took."""
    start = time.monotonic()
    frame = source.read()
    return frame, time.monotonic() - start


def _frames(source: FrameSource, count: int) -> list[Frame]:
    """The next ``count`` frames, none of them missing."""
    frames = [source.read() for _ in range(count)]
    assert all(frame is not None for frame in frames)
    return [frame for frame in frames if frame is not None]


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = list(islice(ReconnectPolicy().delays(), 9))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    with pytest.raises(ValueError, match="max_s must be >= initial_s"):
        ReconnectPolicy(initial_s=2.0, max_s=1.0)
    with pytest.raises(ValueError, match="factor must be >= 1"):
        ReconnectPolicy(factor=0.5)


def test_hot_folder_that_vanishes_and_comes_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder, away = tmp_path / "cam", tmp_path / "away"
    write_images(folder, ["img1.png", "img2.png", "img3.png"])
    with caplog.at_level(logging.INFO), open_source(f"dir://{folder}?live=1", reconnect=FAST) as source:
        assert source.live and isinstance(source, ReconnectingSource)
        before = _frames(source, 3)
        assert [f.seq for f in before] == [0, 1, 2]
        folder.rename(away)

        def come_back() -> None:
            write_images(away, ["img1.png", "img2.png", "img3.png", "img4.png"])  # img4 is new
            away.rename(folder)

        _later(0.6, come_back)
        frame, waited = _read(source)
        stats = source.stats()
    assert frame is not None and frame.seq == 3
    assert np.array_equal(frame.image, frame_pixels(3))  # the new image only, not the old ones again
    assert waited >= 0.5
    [gap] = stats.gaps
    assert gap.start_ms == before[2].ts_ms and gap.end_ms == frame.ts_ms
    assert gap.length_s >= 0.5 and "does not exist" in gap.reason
    # Sleeps of 0.05, 0.1, 0.2, 0.2, ... s: a handful of attempts in 0.6 s, not a busy loop.
    assert 2 <= stats.reopen_attempts <= 7 and stats.reopens == 1
    assert stats.frames == 4 and stats.down_since_ms is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("frames again after a gap of" in m for m in warnings)


def test_live_video_file_that_vanishes_is_reopened(tmp_path: Path) -> None:
    video, away = write_video(tmp_path / "clip.mp4", 3), tmp_path / "moved.mp4"
    with open_source(f"file://{video}?live=1", reconnect=FAST) as source:
        first = _frames(source, 3)
        video.rename(away)
        _later(0.4, lambda: away.rename(video))
        frame, waited = _read(source)
        stats = source.stats()
    assert [f.seq for f in first] == [0, 1, 2]
    assert frame is not None and frame.seq == 3 and waited >= 0.3
    [gap] = stats.gaps
    assert gap.reason == "stream ended" and gap.length_s >= 0.3
    assert stats.reopen_attempts >= 2 and stats.reopens == 1


def test_stalled_hot_folder_is_a_gap(tmp_path: Path) -> None:
    write_images(tmp_path, ["a1.png"])
    policy = ReconnectPolicy(initial_s=0.05, max_s=0.1, stall_s=0.3)
    with open_source(f"dir://{tmp_path}?live=1", reconnect=policy) as source:
        assert source.read() is not None
        _later(0.8, lambda: write_images(tmp_path, ["a1.png", "a2.png"]))
        frame, waited = _read(source)
        stats = source.stats()
    assert frame is not None and frame.seq == 1 and waited >= 0.6
    assert [g.reason for g in stats.gaps] == ["read stalled: nothing for 0.3 s"]


def test_corrupt_file_in_a_hot_folder_is_skipped_and_reported(tmp_path: Path) -> None:
    write_images(tmp_path, ["a1.png", "a3.png"])
    broken = tmp_path / "a2.png"
    broken.write_bytes(b"not a png")
    os.utime(broken, (time.time() - 60, time.time() - 60))  # old: not a file still being written
    with open_source(f"dir://{tmp_path}?live=1", reconnect=FAST) as source:
        frames = _frames(source, 2)
        skipped = source.stats().skipped
    assert [f.seq for f in frames] == [0, 1]
    assert [s.name for s in skipped] == ["a2.png"]


def test_stop_interrupts_a_reconnect_wait_promptly(tmp_path: Path) -> None:
    stop = threading.Event()
    slow = ReconnectPolicy(initial_s=20.0, max_s=60.0)
    source = open_source(f"dir://{tmp_path / 'not-yet'}?live=1", stop=stop, reconnect=slow)  # live: no error
    _later(0.3, stop.set)
    frame, waited = _read(source)
    assert frame is None and waited < 2.0
    assert source.stats().down_since_ms is not None
    source.close()
    [gap] = source.stats().gaps
    assert "folder does not exist" in gap.reason and "closed before it recovered" in gap.reason


def test_missing_camera_keeps_retrying_until_stopped() -> None:
    stop = threading.Event()
    with open_source("/dev/video-steelsight-none", stop=stop, reconnect=FAST) as source:
        _later(0.5, stop.set)
        assert source.read() is None
        stats = source.stats()
    assert stats.reopen_attempts >= 1 and stats.frames == 0
    assert stats.down_since_ms is not None


@pytest.mark.skipif(opencv_has_gstreamer(), reason="this OpenCV has GStreamer, so csi:// can open")
def test_csi_without_gstreamer_fails_at_start_with_advice() -> None:
    with pytest.raises(SourceError, match="csi://0: this OpenCV build has no GStreamer support"):
        open_source("csi://0")

"""Source URIs: every accepted form, and errors that name the bad part."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.sources import SourceError, parse_source_uri, redact_uri


@pytest.mark.parametrize(
    ("uri", "kind", "target", "options"),
    [
        ("csi://0", "csi", "0", {}),
        (
            "csi://1?width=1280&height=720&fps=60&flip=2",
            "csi",
            "1",
            {"width": 1280, "height": 720, "fps": 60.0, "flip": 2},
        ),
        ("v4l2:///dev/video0", "v4l2", "/dev/video0", {}),
        ("v4l2://2?fourcc=MJPG", "v4l2", "2", {"fourcc": "MJPG"}),
        ("/dev/video0", "v4l2", "/dev/video0", {}),
        ("rtsp://cam.local:554/stream1", "rtsp", "rtsp://cam.local:554/stream1", {}),
        (
            "rtsps://cam/s?channel=1&subtype=0#latency=50&tcp",
            "rtsp",
            "rtsps://cam/s?channel=1&subtype=0",
            {"latency": 50, "tcp": True},
        ),
        ("file:///data/x.mp4", "file", "/data/x.mp4", {}),
        ("file://localhost/data/x.mp4?loop=1&fps=5", "file", "/data/x.mp4", {"loop": True, "fps": 5.0}),
        ("file:///data/my%20clip.mp4", "file", "/data/my clip.mp4", {}),
        ("/data/x.mp4", "file", "/data/x.mp4", {}),
        ("dir:///frames/?live=yes", "dir", "/frames/", {"live": True}),
        ("/frames/", "dir", "/frames/", {}),
        ("synthetic://slag", "synthetic", "slag", {}),
        (
            "synthetic://weld?seed=7&count=100&loop=0",
            "synthetic",
            "weld",
            {"seed": 7, "count": 100, "loop": False},
        ),
    ],
)
def test_good_uris(uri: str, kind: str, target: str, options: dict[str, object]) -> None:
    parsed = parse_source_uri(uri)
    assert (parsed.kind, parsed.target, dict(parsed.options)) == (kind, target, options)
    assert parsed.uri == uri


def test_bare_existing_folder_is_a_dir_source(tmp_path: Path) -> None:
    assert parse_source_uri(str(tmp_path)).kind == "dir"
    assert parse_source_uri(str(tmp_path / "clip.mp4")).kind == "file"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty source URI"),
        ("http://cam/video", "unknown source kind 'http://'"),
        ("synthetic:slag", "write synthetic://"),
        ("csi://abc", "sensor id 'abc' is not a number"),
        ("csi://0/extra", "unexpected path '/extra'"),
        ("v4l2://dev/video0", "three slashes"),
        ("v4l2://", "no device given"),
        ("rtsp:///stream", "no camera host"),
        ("file://", "no path given"),
        ("synthetic://smoke", "unknown synthetic scene 'smoke' (use synthetic://slag or synthetic://weld)"),
        (
            "synthetic://slag?sed=7",
            "unknown option 'sed' for synthetic:// sources (known: count, fps, height, loop,",
        ),
        ("synthetic://slag?seed=-1", "option 'seed=-1' is not a whole number >= 0"),
        ("synthetic://slag?count=0", "option 'count=0' is not a whole number > 0"),
        ("file:///x.mp4?fps=fast", "option 'fps=fast' is not a number"),
        ("file:///x.mp4?fps=0", "option 'fps=0' is not a number > 0"),
        ("dir:///x?loop=maybe", "option 'loop=maybe' is not a yes/no value"),
        ("dir:///x?width=", "option 'width' needs a value"),
        ("dir:///x?width=10&width=20", "option 'width' is given twice"),
        ("csi://0?flip=9", "option 'flip=9' is not an nvvidconv flip-method 0..7"),
        ("v4l2://0?fourcc=MJPEG", "four-character code"),
        ("csi://0?loop=1", "unknown option 'loop' for csi:// sources"),
        ("file:///x.mp4#loop=1", "options go after '?'"),
    ],
)
def test_bad_uris_name_the_bad_part(uri: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_source_uri(uri)
    assert message in str(caught.value)
    if uri:
        assert str(caught.value).startswith(f"{uri}: ")  # the message names the URI first


def test_passwords_never_appear_in_messages_or_reprs() -> None:
    uri = "rtsp://admin:s3cret@cam/stream?user=admin&password=s3cret#latency=x"
    assert "s3cret" not in redact_uri(uri)
    assert redact_uri(uri).startswith("rtsp://admin:***@cam/stream?user=admin&password=***")
    with pytest.raises(SourceError) as caught:
        parse_source_uri(uri)
    assert "s3cret" not in str(caught.value)
    parsed = parse_source_uri("rtsp://admin:s3cret@cam/stream")
    assert parsed.target == "rtsp://admin:s3cret@cam/stream"  # the camera needs it
    assert "s3cret" not in repr(parsed) and "s3cret" not in parsed.shown

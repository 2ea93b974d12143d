"""The two-command demo: a synthetic furnace video through the demo bundle to a local MQTT broker.

:func:`run_demo` is ``steelsight-edge demo``; the parts are reusable on their own:
:func:`furnace_video` (the video and its truth), :class:`LocalBroker` (a private Mosquitto, also
the tests' broker), :class:`ThicknessSubscriber` (the SCADA side) and :func:`overlay_reel`.
"""

from edge.demo.furnace_video import FurnaceVideo, furnace_video
from edge.demo.local_broker import LocalBroker
from edge.demo.overlay_reel import overlay_reel
from edge.demo.run_demo import DemoReport, default_demo_bundle, demo_camera_config, format_report, run_demo
from edge.demo.thickness_subscriber import ThicknessSubscriber

__all__ = [
    "DemoReport",
    "FurnaceVideo",
    "LocalBroker",
    "ThicknessSubscriber",
    "default_demo_bundle",
    "demo_camera_config",
    "format_report",
    "furnace_video",
    "overlay_reel",
    "run_demo",
]

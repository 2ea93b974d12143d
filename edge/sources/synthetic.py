"""``synthetic://slag`` and ``synthetic://weld``: scenes rendered live, each frame with its exact truth.

Scene ``i`` of the stream is ``render_slag(seed, i, (height, width))`` (or ``render_weld``), so
a seed gives the same frames every run. The renderers draw RGB; frames are converted to BGR like
every other source. The scene's truth goes into :attr:`edge.frame.Frame.truth` as a dict.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import cv2

from edge.sources.base import ImageSource, Picture
from edge.sources.errors import SourceError
from edge.synth import render_slag, render_weld

__all__ = ["DEFAULT_SYNTHETIC_SIZE", "MIN_SYNTHETIC_SIDE", "SyntheticSource", "open_synthetic"]

DEFAULT_SYNTHETIC_SIZE = (512, 512)
"""``(height, width)`` rendered when no size is given."""
MIN_SYNTHETIC_SIDE = 64
"""The renderers' smallest side in pixels."""

_RENDERERS: dict[str, Callable[[int, int, tuple[int, int]], Any]] = {"slag": render_slag, "weld": render_weld}


def _truth_dict(truth: Any) -> dict[str, Any]:
    """A scene truth as a dict: its own ``to_dict``/``as_dict`` when it has one, else ``asdict``."""
    for name in ("to_dict", "as_dict"):
        method = getattr(truth, name, None)
        if callable(method):
            return dict(method())
    return dataclasses.asdict(truth)


def open_synthetic(
    uri: str,
    scene: str,
    *,
    seed: int = 0,
    count: int | None = None,
    loop: bool = False,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    stop: threading.Event | None = None,
) -> SyntheticSource:
    """Open a synthetic source.

    Parameters
    ----------
    uri
        The source URI.
    scene
        ``"slag"`` or ``"weld"``.
    seed
        Dataset seed.
    count
        Number of scenes; ``None`` renders without end.
    loop
        With ``count``: start over at scene 0 after the last one.
    width, height
        Render size; one alone gives a square, neither gives 512x512. Each side at least 64.
    fps
        Delivery rate; ``None`` delivers as fast as scenes render.
    stop
        When set, reading ends.

    Returns
    -------
    SyntheticSource
        The source.

    Raises
    ------
    SourceError
        If the scene is unknown or the size is below 64 pixels.
    """
    if scene not in _RENDERERS:
        raise SourceError(f"{uri}: unknown synthetic scene '{scene}' (use {' or '.join(_RENDERERS)})")
    render_height = height or width or DEFAULT_SYNTHETIC_SIZE[0]
    render_width = width or height or DEFAULT_SYNTHETIC_SIZE[1]
    if min(render_height, render_width) < MIN_SYNTHETIC_SIDE:
        raise SourceError(
            f"{uri}: synthetic scenes need at least {MIN_SYNTHETIC_SIDE}x{MIN_SYNTHETIC_SIDE} pixels, "
            f"got {render_width}x{render_height}"
        )
    return SyntheticSource(
        uri,
        scene,
        seed=seed,
        count=count,
        loop=loop,
        render_size=(render_height, render_width),
        fps=fps,
        stop=stop,
    )


class SyntheticSource(ImageSource):
    """Frames rendered by :mod:`edge.synth` (use :func:`open_synthetic`, which checks the arguments).

    Parameters
    ----------
    uri
        The source URI.
    scene
        ``"slag"`` or ``"weld"``.
    seed, count, loop, fps, stop
        See :func:`open_synthetic`.
    render_size
        ``(height, width)`` to render.
    """

    def __init__(
        self,
        uri: str,
        scene: str,
        *,
        seed: int = 0,
        count: int | None = None,
        loop: bool = False,
        render_size: tuple[int, int] = DEFAULT_SYNTHETIC_SIZE,
        fps: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(uri, live=False, stop=stop, fps=fps)
        self.scene = scene
        self._render = _RENDERERS[scene]
        self._seed = seed
        self._count = count
        self._loop = loop
        self._render_size = render_size
        self._index = 0

    def _next_picture(self) -> Picture | None:
        if self._count is not None and self._index >= self._count:
            if not self._loop:
                return None
            self._index = 0
        rendered = self._render(self._seed, self._index, self._render_size)
        self._index += 1
        image = cv2.cvtColor(rendered.image, cv2.COLOR_RGB2BGR)
        return Picture(image, truth=_truth_dict(rendered.truth))

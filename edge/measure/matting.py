"""SHDM-Net matting refinement of the weld mask: trimap from the probability map, closed-form
matting (Levin, Lischinski and Weiss 2008, through :func:`pymatting.estimate_alpha_cf`) on the
unknown band only, ``alpha > 0.5`` is weld.

Trimap (the bundle manifest's ``postprocess.matting``: ``foreground`` 0.46, ``background`` 0.38,
``alpha`` 0.5)::

    p >= foreground            -> foreground (alpha fixed at 1)
    p <= background            -> background (alpha fixed at 0)
    background < p < foreground -> unknown (alpha solved)

Crops. The matting Laplacian couples two pixels only when they share a ``(2r+1)^2`` window, so
the equations of an unknown pixel involve the image and the alphas within ``2r`` of it (``r`` =
:attr:`MattingConfig.radius`). Each 8-connected region of unknown pixels is solved on its
bounding box grown by ``2r`` (plus :attr:`MattingConfig.extra_margin_px`), clipped to the image;
overlapping boxes are merged until all are disjoint. Every window that touches an unknown pixel
then lies inside that pixel's crop, and the known pixels of those windows (which are always in
the crop) are its constraints, so a crop gives the same linear system as the full image, and
the same alpha up to the solver's tolerance. Known pixels farther away do not enter the
equations at all.

Fallbacks. No unknown pixel: nothing to solve (``refined`` ``False``, no reason). An unknown band
over :attr:`MattingConfig.max_unknown_fraction` of the image: no solve, ``fallback_reason`` set.
The time budget :attr:`MattingConfig.max_seconds` is checked before each crop (largest unknown
area first); when it is spent the remaining crops are not solved and ``fallback_reason`` says
how many (a crop already being solved runs to its end). Unsolved pixels keep the *thresholded
mask*: the trimap foreground plus unknown pixels with ``p > alpha`` (with the defaults simply
``p >= 0.46``). The result is always ``mask = alpha > alpha_threshold`` of an alpha map that is 1
on the foreground, 0 on the background, the solved alpha on solved unknown pixels and ``p`` on
unsolved ones.

Colour order. Closed-form matting depends on the colours only through window means and
covariances, and a permutation of the channels permutes those consistently (the ``epsilon``
regulariser is a multiple of the identity), so RGB and BGR images give the same alpha: the
pipeline's BGR frames can be passed as they are. Grey ``(H, W)`` images are used as three equal
channels.

First call. pymatting's Laplacian is a Numba function: the first call in a process compiles it,
or loads it from Numba's on-disk cache (``cache=True``; ``__pycache__`` beside pymatting, or
``NUMBA_CACHE_DIR``). Measured on a shared 2-core development machine: about 50 s to compile from
an empty cache, under 1 s to load from it. Call :func:`warm_up` at start-up so the first frame does
not pay it (the time budget is checked between crops and cannot interrupt it); make sure the cache
directory is writable on the camera, or every process start compiles again.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MattingConfig", "MattingResult", "matting_crops", "refine_weld_mask", "trimap", "warm_up"]

log = logging.getLogger(__name__)

TRIMAP_FOREGROUND = 1.0
TRIMAP_BACKGROUND = 0.0
TRIMAP_UNKNOWN = 0.5


@dataclass(frozen=True)
class MattingConfig:
    """Parameters of :func:`refine_weld_mask`.

    Attributes
    ----------
    foreground
        ``p >= foreground`` is known weld (``C_high``; the manifest's ``matting.foreground``).
    background
        ``p <= background`` is known background (``C_low``; ``matting.background``).
    alpha_threshold
        ``alpha > alpha_threshold`` is weld (``matting.alpha``).
    max_unknown_fraction
        No solve (fallback) when the unknown band is a larger fraction of the image than this.
    max_seconds
        Time budget of one call; no further crop is started once it is spent. ``None``: no limit.
    radius
        Radius ``r`` of the matting windows ``(2r+1)^2``.
    epsilon
        Regularisation of the window colour covariances (pymatting's default 1e-7).
    extra_margin_px
        Pixels added to the exact ``2r`` crop margin (context only; it does not change alpha).
    cg_rtol, cg_maxiter
        Relative tolerance and iteration cap of pymatting's preconditioned conjugate gradients.
    """

    foreground: float = 0.46
    background: float = 0.38
    alpha_threshold: float = 0.5
    max_unknown_fraction: float = 0.25
    max_seconds: float | None = 2.0
    radius: int = 1
    epsilon: float = 1e-7
    extra_margin_px: int = 0
    cg_rtol: float = 1e-7
    cg_maxiter: int = 10000

    def __post_init__(self) -> None:
        for name in ("foreground", "background", "alpha_threshold"):
            value = getattr(self, name)
            if not _real(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if not self.background < self.foreground:
            raise ValueError(
                f"background ({self.background}) must be below foreground ({self.foreground}): "
                "the unknown band of the trimap lies between them"
            )
        if not _real(self.max_unknown_fraction) or not 0.0 <= self.max_unknown_fraction <= 1.0:
            raise ValueError(f"max_unknown_fraction must be in [0, 1], got {self.max_unknown_fraction!r}")
        if self.max_seconds is not None and (not _real(self.max_seconds) or not self.max_seconds >= 0):
            raise ValueError(f"max_seconds must be a number >= 0 or None, got {self.max_seconds!r}")
        if not _integer(self.radius) or self.radius < 1:
            raise ValueError(f"radius must be an integer >= 1, got {self.radius!r}")
        if not _real(self.epsilon) or not self.epsilon > 0:
            raise ValueError(f"epsilon must be a number > 0, got {self.epsilon!r}")
        if not _integer(self.extra_margin_px) or self.extra_margin_px < 0:
            raise ValueError(f"extra_margin_px must be an integer >= 0, got {self.extra_margin_px!r}")
        if not _real(self.cg_rtol) or not self.cg_rtol > 0:
            raise ValueError(f"cg_rtol must be a number > 0, got {self.cg_rtol!r}")
        if not _integer(self.cg_maxiter) or self.cg_maxiter < 1:
            raise ValueError(f"cg_maxiter must be an integer >= 1, got {self.cg_maxiter!r}")

    @property
    def margin_px(self) -> int:
        """Crop margin around each unknown region: ``2 * radius + extra_margin_px``."""
        return 2 * self.radius + self.extra_margin_px

    @classmethod
    def from_manifest(cls, matting: Mapping[str, float], **overrides: object) -> MattingConfig:
        """A config from a bundle manifest's ``postprocess.matting`` ``{foreground, background, alpha}``.

        Parameters
        ----------
        matting
            The manifest's matting thresholds.
        **overrides
            Other fields of the config (e.g. ``max_seconds``).
        """
        return cls(
            foreground=float(matting["foreground"]),
            background=float(matting["background"]),
            alpha_threshold=float(matting["alpha"]),
            **overrides,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, eq=False)
class MattingResult:
    """The refined weld mask.

    Attributes
    ----------
    mask
        ``uint8`` ``(H, W)``: 1 weld, 0 background.
    alpha
        ``float32`` ``(H, W)`` alpha map (see the module docstring), or ``None`` when nothing
        was solved.
    refined
        Whether at least one crop was solved.
    fallback_reason
        Why the thresholded mask was kept for some or all unknown pixels, or ``None``.
    unknown_px
        Pixels in the unknown band of the trimap.
    crops
        Crops solved.
    crops_skipped
        Crops left unsolved: the time budget was spent before them, or the solver failed on
        them (pymatting's conjugate gradients did not converge).
    seconds
        Wall time of the call.
    """

    mask: np.ndarray
    alpha: np.ndarray | None
    refined: bool
    fallback_reason: str | None
    unknown_px: int
    crops: int
    crops_skipped: int
    seconds: float


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_image(image: object) -> np.ndarray:
    """``image`` as float64 ``(H, W, 3)`` in [0, 1]; ValueError naming what was expected."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (H, W, 3), got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be (H, W, 3) colour or (H, W) grey, got shape {image.shape}")
    if image.dtype == np.uint8:
        data = image.astype(np.float64) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        data = image.astype(np.float64)
        if not np.all(np.isfinite(data)) or data.min() < 0.0 or data.max() > 1.0:
            raise ValueError("a float image must hold finite values in [0, 1]")
    else:
        raise ValueError(f"image must be uint8 (0..255) or float (0..1), got dtype {image.dtype}")
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    return data


def _check_probability(probability: object, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(probability, np.ndarray):
        raise ValueError(f"probability must be a numpy array (H, W), got {type(probability).__name__}")
    if probability.shape != shape:
        raise ValueError(f"probability must have the image's shape {shape}, got {probability.shape}")
    if not np.issubdtype(probability.dtype, np.floating):
        raise ValueError(
            f"probability must be a float array of weld probabilities, got dtype {probability.dtype}"
        )
    if not np.all(np.isfinite(probability)) or probability.min() < 0.0 or probability.max() > 1.0:
        raise ValueError("probability must hold finite values in [0, 1]")
    return probability


def trimap(
    probability: np.ndarray,
    config: MattingConfig = MattingConfig(),
) -> np.ndarray:
    """The trimap of a weld probability map.

    Returns
    -------
    numpy.ndarray
        ``float64`` ``(H, W)``: 1 where ``p >= foreground``, 0 where ``p <= background``, 0.5
        in between (pymatting's convention: >= 0.9 foreground, <= 0.1 background).
    """
    out = np.full(probability.shape, TRIMAP_UNKNOWN)
    out[probability >= config.foreground] = TRIMAP_FOREGROUND
    out[probability <= config.background] = TRIMAP_BACKGROUND
    return out


def matting_crops(unknown: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """Disjoint crops covering the unknown pixels with their matting context.

    Parameters
    ----------
    unknown
        ``bool`` ``(H, W)``: the unknown band.
    margin
        Pixels added around each 8-connected unknown region's bounding box.

    Returns
    -------
    list of (y0, y1, x0, x1)
        Half-open boxes clipped to the image, pairwise disjoint (overlapping grown boxes are
        merged), ordered by unknown pixel count, largest first.
    """
    height, width = unknown.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(unknown.view(np.uint8), connectivity=8)
    boxes = [
        (
            max(0, int(y) - margin),
            min(height, int(y + h) + margin),
            max(0, int(x) - margin),
            min(width, int(x + w) + margin),
        )
        for x, y, w, h in stats[1:count, :4]
    ]
    while len(boxes) > 1:
        canvas = np.zeros((height, width), np.uint8)
        for y0, y1, x0, x1 in boxes:
            canvas[y0:y1, x0:x1] = 1
        merged, _, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        # Painted boxes only grow when merged, so a stable count means no two overlap.
        stable = merged - 1 == len(boxes)
        boxes = [(int(y), int(y + h), int(x), int(x + w)) for x, y, w, h in stats[1:merged, :4]]
        if stable:
            break
    sizes = [int(np.count_nonzero(unknown[y0:y1, x0:x1])) for y0, y1, x0, x1 in boxes]
    order = sorted(range(len(boxes)), key=lambda i: (-sizes[i], boxes[i]))
    return [boxes[i] for i in order]


def _solve(image: np.ndarray, tri: np.ndarray, config: MattingConfig) -> np.ndarray | None:
    """pymatting's closed-form alpha of one crop (float64, clipped to [0, 1]); ``None`` when the
    crop has no known pixel or the conjugate gradients do not converge to a finite solution."""
    from pymatting import estimate_alpha_cf  # heavy import (numba): only when needed

    # Constraints of a single kind give a constant alpha (the Laplacian's rows sum to zero);
    # pymatting refuses a trimap without foreground or background, so answer those here.
    has_fg = bool(np.any(tri == TRIMAP_FOREGROUND))
    has_bg = bool(np.any(tri == TRIMAP_BACKGROUND))
    if not has_fg and not has_bg:
        log.warning("weld matting: a %dx%d crop holds no known pixel", tri.shape[0], tri.shape[1])
        return None
    if not has_fg or not has_bg:
        return np.where(tri == TRIMAP_UNKNOWN, 1.0 if has_fg else 0.0, tri)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = estimate_alpha_cf(
                np.ascontiguousarray(image),
                np.ascontiguousarray(tri),
                laplacian_kwargs={"epsilon": float(config.epsilon), "radius": int(config.radius)},
                cg_kwargs={"rtol": float(config.cg_rtol), "maxiter": int(config.cg_maxiter)},
            )
    except ValueError as exc:  # pymatting's cg raises ValueError when it does not converge
        log.warning("weld matting: the solver failed on a %dx%d crop: %s", tri.shape[0], tri.shape[1], exc)
        return None
    if not np.all(np.isfinite(alpha)):
        log.warning(
            "weld matting: the solver gave non-finite alpha on a %dx%d crop", tri.shape[0], tri.shape[1]
        )
        return None
    return alpha


def refine_weld_mask(
    image: np.ndarray,
    probability: np.ndarray,
    config: MattingConfig = MattingConfig(),
) -> MattingResult:
    """Refine the weld mask by closed-form matting on the trimap's unknown band.

    Parameters
    ----------
    image
        The frame ``(H, W, 3)`` in RGB or BGR order (the result does not depend on it; see the
        module docstring), ``uint8`` or float in [0, 1]; or grey ``(H, W)``.
    probability
        Weld probability ``(H, W)``, float in [0, 1], at the image's resolution.
    config
        Thresholds, limits and solver settings.

    Returns
    -------
    MattingResult
        The mask (``alpha > alpha_threshold``), the alpha map when something was solved, and
        how the call went.

    Raises
    ------
    ValueError
        For a malformed image or probability map, or shapes that do not match.
    """
    start = time.perf_counter()
    data = _check_image(image)
    prob = _check_probability(probability, data.shape[:2])
    tri = trimap(prob, config)
    unknown = tri == TRIMAP_UNKNOWN
    unknown_px = int(np.count_nonzero(unknown))
    thresholded = (tri == TRIMAP_FOREGROUND) | (unknown & (prob > config.alpha_threshold))

    def unrefined(reason: str | None, skipped: int) -> MattingResult:
        if reason:
            log.info("weld matting not applied: %s", reason)
        return MattingResult(
            thresholded.astype(np.uint8),
            None,
            False,
            reason,
            unknown_px,
            0,
            skipped,
            time.perf_counter() - start,
        )

    if unknown_px == 0:
        return unrefined(None, 0)
    fraction = unknown_px / unknown.size
    if fraction > config.max_unknown_fraction:
        return unrefined(
            f"unknown band is {fraction:.1%} of the image, over max_unknown_fraction "
            f"{config.max_unknown_fraction:.1%}",
            0,
        )

    crops = matting_crops(unknown, config.margin_px)
    alpha = np.where(unknown, prob, tri).astype(np.float32)
    solved = failed = attempted = 0
    for y0, y1, x0, x1 in crops:
        if config.max_seconds is not None and time.perf_counter() - start >= config.max_seconds:
            break
        attempted += 1
        crop_alpha = _solve(data[y0:y1, x0:x1], tri[y0:y1, x0:x1], config)
        if crop_alpha is None:
            failed += 1
            continue
        inside = unknown[y0:y1, x0:x1]
        alpha[y0:y1, x0:x1][inside] = crop_alpha[inside]
        solved += 1
    timed_out = len(crops) - attempted
    reasons = []
    if timed_out:
        reasons.append(
            f"time budget of {config.max_seconds} s spent: {timed_out} of {len(crops)} crops not refined"
        )
    if failed:
        reasons.append(f"the solver failed on {failed} of {len(crops)} crops")
    reason = "; ".join(reasons) or None
    seconds = time.perf_counter() - start
    if solved == 0:
        return unrefined(reason, timed_out + failed)
    if reason:
        log.warning("weld matting: %s", reason)
    log.debug(
        "weld matting: %d unknown px in %d crops (%d px), %.3f s",
        unknown_px,
        solved,
        sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in crops[:solved]),
        seconds,
    )
    mask = (alpha > config.alpha_threshold).astype(np.uint8)
    return MattingResult(mask, alpha, True, reason, unknown_px, solved, timed_out + failed, seconds)


def warm_up(config: MattingConfig = MattingConfig()) -> float:
    """Run one tiny solve so that Numba compiles (or loads) pymatting's Laplacian now.

    Returns
    -------
    float
        Seconds it took (the first-call cost in this process; small on later calls).
    """
    start = time.perf_counter()
    xs = np.mgrid[0:24, 0:24][1].astype(np.float64)
    prob = np.clip(0.42 + (xs - 11.5) / 40.0, 0.0, 1.0)  # unknown band: columns 10..13
    edge = np.clip((xs - 9.0) / 5.0, 0.0, 1.0)[:, :, None]
    image = (1.0 - edge) * np.array([0.8, 0.3, 0.2]) + edge * np.array([0.2, 0.4, 0.7])
    image = image + 0.02 * np.sin(np.arange(24.0))[:, None, None]
    _solve(np.clip(image, 0.0, 1.0), trimap(prob, config), config)
    seconds = time.perf_counter() - start
    log.info("pymatting warm-up (Numba compile or cache load): %.2f s", seconds)
    return seconds

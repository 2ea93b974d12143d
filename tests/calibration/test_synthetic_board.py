"""The synthetic renderer itself: what it draws lands where cv2.projectPoints says it should."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.detect import BoardSpec, detect_board
from calibration.synthetic_board import (
    Camera,
    board_corners_mm,
    demo_camera,
    demo_views,
    project_plane_points,
    render_checkerboard,
    render_plane,
)


def test_rendered_corners_lie_on_their_projection() -> None:
    camera = demo_camera()
    pose = demo_views(3)[2]
    image = render_checkerboard(camera, pose, blur_sigma=0.0, noise_sigma=0.0)
    detection = detect_board(image, BoardSpec.checkerboard("9x6", 25.0))
    assert detection is not None
    truth = project_plane_points(camera, pose, board_corners_mm(9, 6, 25.0))
    found = detection.image_points
    if np.abs(found[::-1] - truth).max() < np.abs(found - truth).max():
        found = found[::-1]  # the detector may start from the opposite corner
    error = np.linalg.norm(found - truth, axis=1)
    assert float(np.sqrt(np.mean(error**2))) < 0.1
    assert float(error.max()) < 0.25


def test_distortion_that_cannot_be_inverted_is_refused() -> None:
    k = np.array([[40.0, 0, 20], [0, 40, 15], [0, 0, 1]])
    camera = Camera(k, np.array([-3.0, 0.0, 0.0, 0.0, 0.0]), (30, 40))  # folds the image over
    with pytest.raises(ValueError, match="cannot be inverted"):
        render_plane(camera, demo_views(1)[0], lambda x, y, wx, wy: np.full(x.shape, 100.0))

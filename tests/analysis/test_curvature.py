"""Token and depth curvature against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.analysis import depth_curvature, token_curvature, trajectory_curvature
from molstrata.analysis._utils import AnalysisInputError


def test_straight_line_has_zero_curvature(rng):
    v = rng.normal(size=16)
    X = np.outer(np.array([0.0, 0.5, 1.7, 2.0, 3.3]), v) + rng.normal(size=16)
    assert trajectory_curvature(X) == pytest.approx(0.0, abs=1e-6)


def test_right_angle_zigzag_has_curvature_pi_over_two():
    X = np.array([[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [3, 2]], dtype=float)
    assert trajectory_curvature(X) == pytest.approx(np.pi / 2)


def test_u_turn_is_pi_not_zero_no_abs():
    # the reference code's |cos| would fold this onto a straight line (0)
    X = np.array([[0.0], [1.0], [0.0], [1.0]])
    assert trajectory_curvature(X) == pytest.approx(np.pi)


def test_random_planar_walk_matches_atan2_turning_angles(rng):
    X = np.cumsum(rng.normal(size=(30, 2)), axis=0)
    v = np.diff(X, axis=0)
    heading = np.arctan2(v[:, 1], v[:, 0])
    turn = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
    assert trajectory_curvature(X) == pytest.approx(turn.mean(), rel=1e-9)


def test_short_or_degenerate_trajectories_are_nan():
    assert np.isnan(trajectory_curvature(np.zeros((2, 3))))
    assert np.isnan(trajectory_curvature(np.zeros((5, 3))))


def test_token_curvature_averages_molecules_with_three_or_more_tokens():
    line = np.array([[0.0, 0], [1, 0], [2, 0]])
    zigzag = np.array([[0.0, 0], [1, 0], [1, 1], [2, 1]])
    assert token_curvature([line, zigzag, np.zeros((2, 2))]) == pytest.approx(np.pi / 4)


def test_depth_curvature_per_layer(rng):
    # molecule i moves along e0, then e1, then e0 through 4 layers: right angles inside
    n, d = 5, 6
    h0 = rng.normal(size=(n, d))
    e0, e1 = np.eye(d)[0], np.eye(d)[1]
    layers = [h0, h0 + e0, h0 + e0 + 2 * e1, h0 + 3 * e0 + 2 * e1]
    out = depth_curvature(layers)
    assert out.shape == (4,)
    assert np.isnan(out[0]) and np.isnan(out[-1])
    assert out[1:3] == pytest.approx([np.pi / 2, np.pi / 2])


def test_depth_curvature_needs_equal_widths():
    with pytest.raises(AnalysisInputError, match="same shape"):
        depth_curvature([np.zeros((3, 4)), np.zeros((3, 5)), np.zeros((3, 4))])

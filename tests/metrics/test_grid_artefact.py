import numpy as np
import pytest

from restore_core.metrics.grid_artefact import boundary_gradient_ratio


def test_a_natural_ramp_has_no_grid_and_a_block_image_has_one():
    ramp = np.add.outer(np.arange(32.0), np.arange(32.0))
    assert boundary_gradient_ratio(ramp, 4) == pytest.approx(1.0)
    blocks = np.kron(np.arange(64.0).reshape(8, 8), np.ones((4, 4)))  # constant 4x4 blocks: edges only on the grid
    assert boundary_gradient_ratio(blocks, 4) == float("inf")
    assert boundary_gradient_ratio(blocks, 4, offset=2) == 0.0


def test_explicit_positions_and_channels():
    image = np.zeros((3, 16, 16))
    image[:, :, 8:] = 1.0  # one vertical edge before column 8
    assert boundary_gradient_ratio(image, positions=[8]) == float("inf")
    assert boundary_gradient_ratio(image, positions=[4]) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        boundary_gradient_ratio(np.zeros((8, 8)), period=1)
    with pytest.raises(ValueError):
        boundary_gradient_ratio(np.zeros((8, 8)))
    with pytest.raises(ValueError):
        boundary_gradient_ratio(np.zeros((1, 1, 8, 8)), 2)

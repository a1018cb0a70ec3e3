import pytest
import torch
import torch.nn.functional as F

from restore_core.diffusion.operators import AveragePoolSR, BicubicSR, LinearOperator, bicubic_resize_matrix


@pytest.mark.parametrize("spatial_dims,shape", [(2, (2, 3, 8, 12)), (3, (1, 2, 4, 8, 4))])
def test_average_pool_pinv_is_exact(spatial_dims, shape):
    op = AveragePoolSR(2, spatial_dims, inverse="nearest")
    assert isinstance(op, LinearOperator)
    x = torch.randn(shape, dtype=torch.float64)
    y = op.A(x)
    assert y.shape == (*shape[:2], *[s // 2 for s in shape[2:]])
    assert torch.allclose(op.A(op.A_pinv(y)), y, atol=1e-12)  # A A^+ = I
    # A^+ A is an orthogonal projection: symmetric, so <A^+A x, z> = <x, A^+A z>
    z = torch.randn_like(x)
    assert torch.allclose((op.A_pinv(op.A(x)) * z).sum(), (x * op.A_pinv(op.A(z))).sum())
    assert torch.allclose(y.flatten(2)[..., 0], x[(..., *[slice(0, 2)] * spatial_dims)].flatten(2).mean(-1))


def test_bicubic_matrix_matches_matlab_weights():
    W = bicubic_resize_matrix(16, 8)
    assert torch.allclose(W.sum(1), torch.ones(8, dtype=torch.float64))
    # interior row of Matlab's imresize(x, 1/2, 'bicubic'): kernel a=-0.5 stretched by 2
    expected = torch.tensor([-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875], dtype=torch.float64)
    assert torch.allclose(W[3, 3:11], expected)


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_interior_equals_torch_antialiased_bicubic(scale):
    x = torch.randn(1, 2, 32, 24, dtype=torch.float64)
    ours = BicubicSR(scale).A(x)
    theirs = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    m = 8 // scale  # borders differ: Matlab mirrors, torch renormalises
    assert torch.allclose(ours[..., m:-m, m:-m], theirs[..., m:-m, m:-m], atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_bicubic_pseudo_inverse(dtype):
    op = BicubicSR(4)
    x = torch.randn(2, 3, 16, 20, dtype=dtype)
    Ax = op.A(x)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert torch.allclose(op.A(op.A_pinv(Ax)), Ax, atol=tol)  # A A^+ A = A
    p = op.A_pinv(Ax)
    assert torch.allclose(op.A_pinv(op.A(p)), p, atol=tol)  # A^+ A A^+ = A^+


def test_operators_reject_indivisible_sizes():
    with pytest.raises(ValueError):
        AveragePoolSR(3).A(torch.zeros(1, 1, 8, 9))
    with pytest.raises(ValueError):
        BicubicSR(2).A(torch.zeros(1, 1, 8, 9))


@pytest.mark.parametrize("spatial_dims,shape,scale", [(1, (2, 3, 24), 4), (2, (2, 3, 8, 12), 2), (2, (1, 2, 16, 20), 4), (3, (1, 2, 8, 4, 8), 2)])
def test_average_pool_bicubic_right_inverse_keeps_consistency_exact(spatial_dims, shape, scale):
    """A R = I for the default (smooth) right inverse, so a DDNM step still re-degrades exactly to y."""
    op = AveragePoolSR(scale, spatial_dims)
    assert op.inverse == "bicubic"
    y = torch.randn(*shape[:2], *[s // scale for s in shape[2:]], dtype=torch.float64)
    assert torch.allclose(op.A(op.A_pinv(y)), y, atol=1e-10)
    x = torch.randn(shape, dtype=torch.float64)
    projected = x + op.A_pinv(y - op.A(x))  # DDNM eq. 13
    assert torch.allclose(op.A(projected), y, atol=1e-10)


def test_average_pool_bicubic_right_inverse_draws_no_block_grid():
    """The nearest pseudo-inverse puts every correction on s x s blocks; the smooth one does not.

    A smooth LR residual (what DDNM corrects when the model misses y by a slowly varying amount) is
    lifted to HR by each inverse; the gradient across every 4th pixel boundary over the others is
    far above 1 for replication and about 1 for the bicubic right inverse.
    """
    from restore_core.metrics.grid_artefact import boundary_gradient_ratio

    grid = torch.linspace(0, 1, 32, dtype=torch.float64)
    residual = (torch.sin(6 * grid)[:, None] * torch.cos(4 * grid)[None, :])[None, None]
    nearest = AveragePoolSR(4, inverse="nearest").A_pinv(residual)[0]
    smooth = AveragePoolSR(4).A_pinv(residual)[0]
    assert boundary_gradient_ratio(nearest, 4) > 10
    assert 0.8 < boundary_gradient_ratio(smooth, 4) < 1.25


def test_average_pool_rejects_unknown_inverse():
    with pytest.raises(ValueError, match="inverse"):
        AveragePoolSR(2, inverse="lanczos")

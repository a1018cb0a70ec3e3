import pytest
import torch

from restore_core.diffusion.parameterization import (
    PREDICTION_TYPES,
    model_output_from_x0,
    predict_x0_and_eps,
    to_model_output,
    v_target,
)


def _batch(shape=(3, 2, 4, 5)):
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(shape, generator=gen, dtype=torch.float64)
    eps = torch.randn(shape, generator=gen, dtype=torch.float64)
    ab = torch.tensor([0.999, 0.5, 0.004], dtype=torch.float64)
    a = ab.sqrt().reshape(-1, *([1] * (len(shape) - 1)))
    s = (1 - ab).sqrt().reshape(a.shape)
    return x0, eps, ab, a * x0 + s * eps


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("shape", [(3, 2, 4, 5), (3, 1, 2, 3, 4)])
def test_round_trip_exact(prediction_type, shape):
    x0, eps, ab, xt = _batch(shape)
    out = to_model_output(x0, eps, ab, prediction_type)
    x0_back, eps_back = predict_x0_and_eps(out, xt, ab, prediction_type)
    assert torch.allclose(x0_back, x0, atol=1e-10, rtol=0)
    assert torch.allclose(eps_back, eps, atol=1e-10, rtol=0)


def test_v_target_definition_and_scalar_alpha_bar():
    x0, eps, _, _ = _batch()
    ab = 0.36
    assert torch.allclose(v_target(x0, eps, ab), 0.6 * eps - 0.8 * x0, atol=1e-12)
    xt = 0.6 * x0 + 0.8 * eps
    x0_back, eps_back = predict_x0_and_eps(v_target(x0, eps, ab), xt, torch.tensor(ab), "v_prediction")
    assert torch.allclose(x0_back, x0, atol=1e-10) and torch.allclose(eps_back, eps, atol=1e-10)


def test_epsilon_prediction_is_ho_eq15():
    x0, eps, ab, xt = _batch()
    x0_hat, _ = predict_x0_and_eps(eps, xt, ab, "epsilon")
    manual = (xt - (1 - ab).sqrt().reshape(3, 1, 1, 1) * eps) / ab.sqrt().reshape(3, 1, 1, 1)
    assert torch.allclose(x0_hat, manual, atol=1e-12)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_model_output_from_x0_reproduces_a_corrected_x0(prediction_type):
    _, _, ab, xt = _batch()
    corrected = torch.randn_like(xt)
    out = model_output_from_x0(corrected, xt, ab, prediction_type)
    x0_back, _ = predict_x0_and_eps(out, xt, ab, prediction_type)
    assert torch.allclose(x0_back, corrected, atol=1e-10)


def test_float32_stays_float32_and_unknown_type_fails():
    x = torch.randn(2, 1, 3, 3)
    x0, eps = predict_x0_and_eps(x, x, torch.tensor([0.5, 0.7], dtype=torch.float64), "v_prediction")
    assert x0.dtype == eps.dtype == torch.float32
    with pytest.raises(ValueError):
        predict_x0_and_eps(x, x, 0.5, "score")

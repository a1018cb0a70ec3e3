"""DDSR: PCA kernel codes, the kernel predictor's loss, code conditioning, streaming, the shipped checkpoint."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from rasterio.transform import Affine

from restore_core import api
from restore_core.engine.pairs import PatchPairs
from restore_core.engine.training import TrainSettings
from restore_core.errors import ConfigError
from restore_remote_sensing.ddsr import DDSR, ddsr_loss, kernel_code_loss
from restore_remote_sensing.degradations import AnisotropicGaussian, anisotropic_gaussian_kernel
from restore_remote_sensing.kernel_pca import KernelPCA

CONFIGS = Path(__file__).resolve().parents[1] / "restore_remote_sensing" / "configs"
UTM_TRANSFORM = (5.0, 0.0, 792988.0, 0.0, -5.0, 2050382.0)  # conftest's grid


@pytest.fixture(scope="module")
def tiny(tiny_overrides):
    cfg = OmegaConf.merge(OmegaConf.load(CONFIGS / "defaults.yaml"), OmegaConf.load(CONFIGS / "ddsr.yaml"))
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(tiny_overrides("ddsr")))
    torch.manual_seed(0)
    return cfg, DDSR().build_model(cfg, 3).eval()


def batch(cfg, seed=0):
    hr = torch.rand(2, 3, 16, 16) * 2 - 1
    degraded = DDSR().degradation(cfg, 4)(hr, torch.Generator().manual_seed(seed))
    return degraded["lr"], hr, {"kernel": degraded["kernel"]}


def test_pca_round_trip_of_kernels():
    pca = KernelPCA(21, 10, 4, 0.2, 4.0, samples=500)
    family = AnisotropicGaussian(4, 21, 0.2, 4.0)
    params = family.random_params(50, torch.Generator().manual_seed(3))
    kernels = torch.stack([anisotropic_gaussian_kernel(*map(float, p), size=21) for p in params])
    codes = pca.encode(kernels)
    assert codes.shape == (50, 10)
    decoded = pca.decode(codes)
    error = (decoded - kernels).flatten(1).norm(dim=1) / kernels.flatten(1).norm(dim=1)
    assert error.median() < 0.2  # 10 components hold the family's kernels
    mean_error = (pca.mean.reshape(21, 21) - kernels).flatten(1).norm(dim=1) / kernels.flatten(1).norm(dim=1)
    assert (error < mean_error).float().mean() > 0.9  # the code carries the kernel, not just the mean
    torch.testing.assert_close(pca.encode(decoded), codes, atol=1e-4, rtol=1e-4)  # projection is idempotent
    assert codes.std(0).min() > 0.3  # whitened: unit-scale components


def test_training_batches_carry_the_kernels(tiny):
    cfg, _ = tiny
    images = [torch.rand(3, 32, 32) * 2 - 1 for _ in range(2)]
    pairs = PatchPairs(images, patch=16, batch_size=2, degradations={4: DDSR().degradation(cfg, 4)}, seed=0)
    lr, hr, extras = next(iter(pairs))
    assert lr.shape == (2, 3, 4, 4) and extras["kernel"].shape == (2, 21, 21)
    torch.testing.assert_close(extras["kernel"].sum(dim=(1, 2)), torch.ones(2))


def test_kernel_code_conditions_the_denoiser(tiny):
    """Changing only the kernel code changes the denoiser's output; without a code the predicted one is used."""
    cfg, model = tiny
    model = copy.deepcopy(model)
    lr, hr, _ = batch(cfg)
    x_t, t = torch.randn(2, 12, 8, 8), torch.tensor([50, 50])
    with torch.no_grad():
        # MONAI initialises the UNet's output convolution to zero: perturb every weight so outputs are non-trivial
        generator = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
        out = [model.denoise(x_t, t, model.condition(lr, (16, 16), code=torch.full((2, 10), v))) for v in (-1.0, 1.0)]
        assert (out[0] - out[1]).abs().max() > 1e-4
        predicted = model.predict_code(model.encoder(lr))
        torch.testing.assert_close(
            model.denoise(x_t, t, model.condition(lr, (16, 16))), model.denoise(x_t, t, model.condition(lr, (16, 16), code=predicted))
        )


def test_kernel_predictor_is_trained_by_the_code_loss(tiny):
    """The joint loss adds λ‖ĉ − c‖²; with λ = 0 the predictor gets no gradient (its code reaches the denoiser detached)."""
    cfg, model = tiny
    settings = TrainSettings.from_config(OmegaConf.to_container(cfg.train))
    data = batch(cfg)
    code_loss, predicted, true = kernel_code_loss(model, data[0], data[2]["kernel"])
    torch.testing.assert_close(code_loss, torch.nn.functional.mse_loss(predicted, true))
    grads = {}
    for weight in (0.0, 1.0):
        model.zero_grad()
        loss, terms = ddsr_loss(weight, 1.0)(model, data, torch.Generator().manual_seed(0), settings)
        loss.backward()
        grads[weight] = sum(float(p.grad.abs().sum()) for p in model.kernel_predictor.parameters() if p.grad is not None)
        assert terms["kernel"] > 0
    assert grads[0.0] == 0 and grads[1.0] > 0
    # a few steps on the code loss alone make the predictor better on this batch
    optimizer = torch.optim.Adam(model.kernel_predictor.parameters(), lr=1e-2)
    before = kernel_code_loss(model, data[0], data[2]["kernel"])[0].item()
    for _ in range(20):
        optimizer.zero_grad()
        kernel_code_loss(model, data[0], data[2]["kernel"])[0].backward()
        optimizer.step()
    assert kernel_code_loss(model, data[0], data[2]["kernel"])[0].item() < before


def test_predictor_refinement_stage_skips_the_denoiser(tiny):
    """diffusion_weight = 0: the loss is the code loss alone and the denoiser is never run."""
    cfg, model = tiny
    model = copy.deepcopy(model)
    settings = TrainSettings.from_config(OmegaConf.to_container(cfg.train))
    data = batch(cfg)
    calls = []
    model.denoiser.register_forward_hook(lambda *args: calls.append(1))
    loss, terms = ddsr_loss(2.0, 0.5, diffusion_weight=0.0)(model, data, torch.Generator().manual_seed(0), settings)
    assert set(terms) == {"kernel"} and not calls
    torch.testing.assert_close(loss, 2.0 * kernel_code_loss(model, data[0], data[2]["kernel"])[0])
    ddsr_loss(1.0, 0.5)(model, data, torch.Generator().manual_seed(0), settings)
    assert calls  # the joint loss does run it


def test_the_predictor_only_stage_must_freeze_everything_else(tiny):
    cfg, _ = tiny
    for overrides, message in (
        (["train.diffusion_weight=0"], "train.trainable=\\[kernel_predictor\\]"),
        (["train.diffusion_weight=0", "train.trainable=[encoder,kernel_predictor]"], "kernel predictor alone"),
        (["train.kernel_weight=-1"], "train.kernel_weight must be >= 0"),
    ):
        with pytest.raises(ConfigError, match=message):
            DDSR().training_loss(OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides)))
    stage = OmegaConf.merge(cfg, OmegaConf.load(CONFIGS / "ddsr-kernel-stage.yaml"))
    assert callable(DDSR().training_loss(stage))

def test_restore_file_streams_a_geotiff(tmp_path, tiny_checkpoints, make_raster, read_raster, smooth, tiny_overrides):
    data = smooth(3, 20, 24, "uint16")
    data[:, -2:, -3:] = 0
    src = make_raster(tmp_path / "scene.tif", data, nodata=0)
    out = api.restore(src, plugin="remote-sensing", method="ddsr", output=tmp_path / "scene_x4.tif", scale=4,
                      overrides=[f"model.checkpoint={tiny_checkpoints['ddsr']}", *tiny_overrides("ddsr")])[0]
    restored, meta = read_raster(out)
    assert restored.shape == (3, 80, 96) and meta["dtype"] == "uint16" and meta["crs"].to_epsg() == 32618
    assert meta["transform"] == Affine(*UTM_TRANSFORM) @ Affine.scale(0.25)
    assert (restored[:, -8:, -12:] == 0).all() and (restored[:, :-8] != 0).all()

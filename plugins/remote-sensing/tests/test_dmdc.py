"""DMDC: detail-complement masks, the pixel constraint, streaming, origin-seeded noise, the shipped checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from rasterio.transform import Affine

from restore_core import api
from restore_core.engine.pairs import PatchPairs
from restore_core.engine.training import TrainSettings, diffusion_loss
from restore_remote_sensing.bicubic import bicubic_upsample
from restore_core.engine.windows import window_seed as origin_seed
from restore_remote_sensing.dmdc import DMDC, pixel_constraint_loss

CONFIGS = Path(__file__).resolve().parents[1] / "restore_remote_sensing" / "configs"
UTM_TRANSFORM = (5.0, 0.0, 792988.0, 0.0, -5.0, 2050382.0)  # conftest's grid


def tiny_cfg(tiny: list[str], *extra: str):
    cfg = OmegaConf.merge(OmegaConf.load(CONFIGS / "defaults.yaml"), OmegaConf.load(CONFIGS / "dmdc.yaml"))
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([*tiny, *extra]))
    cfg.seed = 0
    return cfg


def test_training_batches_carry_detail_complement_masks(tiny_overrides):
    """DMDC's detail-complement task: masked LR blocks (0 in model units) with the mask in the batch extras."""
    cfg = tiny_cfg(tiny_overrides("dmdc"), "train.detail_complement.p_mask=1.0", "train.degradation=area")
    images = [torch.rand(3, 32, 32) * 1.6 - 0.8 for _ in range(2)]
    pairs = PatchPairs(images, patch=16, batch_size=4, degradations={4: DMDC().degradation(cfg, 4)}, seed=0)
    lr, hr, extras = next(iter(pairs))
    mask = extras["mask"]
    assert mask.shape == (4, 1, 4, 4) and (mask.flatten(1).sum(1) > 0).all()  # every sample masked (p_mask=1)
    area = torch.nn.functional.avg_pool2d(hr, 4)
    torch.testing.assert_close(lr, area * (1 - mask))
    assert (lr[mask.expand_as(lr) > 0] == 0).all()


def test_mixed_training_degradation_is_masked_too(tiny_overrides):
    """The shipped config trains on mixed downsampling (area, bicubic, blur+area, noise); the masks still apply."""
    cfg = tiny_cfg(tiny_overrides("dmdc"), "train.detail_complement.p_mask=1.0")
    assert cfg.train.degradation == "mixed"
    images = [torch.rand(3, 32, 32) * 1.6 - 0.8 for _ in range(2)]
    pairs = PatchPairs(images, patch=16, batch_size=8, degradations={4: DMDC().degradation(cfg, 4)}, seed=0)
    lr, hr, extras = next(iter(pairs))
    mask = extras["mask"].expand_as(lr)
    assert (lr[mask > 0] == 0).all()
    area = torch.nn.functional.avg_pool2d(hr, 4) * (1 - extras["mask"])
    differs = [(lr[i] - area[i]).abs().max() > 1e-4 for i in range(lr.shape[0])]
    assert any(differs)  # some samples are not plain area pooling


def test_no_masks_when_p_mask_is_zero(tiny_overrides):
    cfg = tiny_cfg(tiny_overrides("dmdc"), "train.detail_complement.p_mask=0.0", "train.degradation=area")
    hr = torch.rand(3, 3, 16, 16)
    out = DMDC().degradation(cfg, 4)(hr, torch.Generator().manual_seed(0))
    assert out["mask"].sum() == 0
    torch.testing.assert_close(out["lr"], torch.nn.functional.avg_pool2d(hr, 4))


def test_pixel_constraint_term_changes_the_loss(tiny_overrides):
    """λ = 0 is the plain diffusion loss; λ > 0 adds the pixel loss on x̂0 (DMDC sec. 3.3)."""
    cfg = tiny_cfg(tiny_overrides("dmdc"))
    torch.manual_seed(0)
    model = DMDC().build_model(cfg, 3)
    settings = TrainSettings.from_config(OmegaConf.to_container(cfg.train))
    hr = torch.rand(2, 3, 16, 16) * 2 - 1
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    plain = diffusion_loss(model, lr, hr, torch.Generator().manual_seed(1), settings)
    without, _ = pixel_constraint_loss(0.0)(model, (lr, hr), torch.Generator().manual_seed(1), settings)
    with_pixel, terms = pixel_constraint_loss(1.0)(model, (lr, hr), torch.Generator().manual_seed(1), settings)
    torch.testing.assert_close(without, plain)
    assert terms["pixel"] > 0
    torch.testing.assert_close(with_pixel, plain + terms["pixel"])


def test_restore_file_streams_geotiff_keeps_geometry_nodata_and_extra_bands(tmp_path, tiny_checkpoints, make_raster, read_raster, smooth, tiny_overrides):
    data = smooth(4, 24, 28, "uint16")
    data[:, :3, :5] = 0  # a nodata corner
    src = make_raster(tmp_path / "scene.tif", data, nodata=0)
    out = api.restore(src, plugin="remote-sensing", method="dmdc", output=tmp_path / "scene_x4.tif", scale=4,
                      overrides=[f"model.checkpoint={tiny_checkpoints['dmdc']}", *tiny_overrides("dmdc"), "bands.rgb=[1,2,3]"])[0]
    restored, meta = read_raster(out)
    assert restored.shape == (4, 96, 112) and meta["dtype"] == "uint16" and meta["crs"].to_epsg() == 32618
    assert meta["transform"] == Affine(*UTM_TRANSFORM) @ Affine.scale(0.25)
    assert meta["nodata"] == 0
    assert (restored[:, :12, :20] == 0).all() and (restored[:, 12:, 20:] != 0).all()  # nodata written back, only there
    # band 4 (NIR, outside the model's channels) is bicubic, clipped to the dtype
    filled = data.astype(np.float32)
    interior = (slice(40, 90), slice(40, 100))
    expected = bicubic_upsample(filled[3:], 4).clip(0, 65535)[0]
    assert np.abs(restored[3][interior].astype(float) - expected[interior]).max() <= 1


def test_origin_seeded_noise_makes_mosaic_tiles_match_the_whole_scene(tmp_path, tiny_checkpoints, make_raster, read_raster, smooth, tiny_overrides):
    """Each window's noise comes from its origin: tiles restored file by file equal the whole scene's output."""
    scene = smooth(3, 24, 40, "uint16")
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    base = Affine(*UTM_TRANSFORM)
    make_raster(tiles / "a.tif", np.ascontiguousarray(scene[:, :, :20]), transform=base)
    make_raster(tiles / "b.tif", np.ascontiguousarray(scene[:, :, 20:]), transform=base @ Affine.translation(20, 0))
    whole = make_raster(tmp_path / "whole.tif", scene)
    overrides = [f"model.checkpoint={tiny_checkpoints['dmdc']}", *tiny_overrides("dmdc"), "normalise.range=[0,4000]",
                 "tiling.tile=10", "tiling.overlap=2"]
    api.restore(tiles, plugin="remote-sensing", method="dmdc", output=tmp_path / "out", scale=4, overrides=overrides)
    api.restore(whole, plugin="remote-sensing", method="dmdc", output=tmp_path / "whole_x4.tif", scale=4, overrides=overrides)
    left, _ = read_raster(tmp_path / "out" / "a.tif")
    right, _ = read_raster(tmp_path / "out" / "b.tif")
    reference, _ = read_raster(tmp_path / "whole_x4.tif")
    np.testing.assert_array_equal(np.concatenate([left, right], axis=2), reference)


def test_origin_seed_depends_on_position_not_order():
    seeds = {origin_seed(0, (r, c)) for r in range(0, 64, 16) for c in range(0, 64, 16)}
    assert len(seeds) == 16
    assert origin_seed(0, (16, 32)) == origin_seed(0, (16, 32)) != origin_seed(1, (16, 32))


def test_window_function_is_deterministic_per_origin(tmp_path, tiny_checkpoints, make_raster, smooth, tiny_overrides):
    from restore_core.context import RunContext
    from restore_remote_sensing.raster_io import inspect_raster
    from restore_remote_sensing.windowed import open_dataset

    src = make_raster(tmp_path / "w.tif", smooth(3, 12, 12, "uint16"))
    cfg = tiny_cfg(tiny_overrides("dmdc"), f"model.checkpoint={tiny_checkpoints['dmdc']}", "consistency.name=null")
    cfg.scale = 4
    method = DMDC()
    with open_dataset(src) as ds:
        info = inspect_raster(src, ds)
        data = ds.read().astype(np.float32)
    fn = method.window_function(cfg, RunContext(device="cpu", seed=0, quiet=True), info)
    valid = np.ones(data.shape, bool)
    first = fn(data, valid, (0, 0))
    fn(data, valid, (8, 8))  # another window in between must not change the next result
    np.testing.assert_array_equal(fn(data, valid, (0, 0)), first)
    assert not np.array_equal(fn(data, valid, (8, 8)), first)

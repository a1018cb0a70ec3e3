"""SRDiff's conditional diffusion model (RRDB encoder + noise-predicting U-Net + schedule), checkpoint-compatible.

Paper: Haoying Li, Yifan Yang, Meng Chang, Shiqi Chen, Huajun Feng, Zhihai Xu,
Qi Li, Yueting Chen, "SRDiff: Single image super-resolution with diffusion
probabilistic models", Neurocomputing 479 (2022) 47-59,
doi:10.1016/j.neucom.2022.01.029.

Reference: https://github.com/LeiaLi/SRDiff at commit
``56285083a2d64ed321c249e6ef5d6e745a5d817e`` -- ``models/diffusion.py``
(``GaussianDiffusion``), ``models/diffsr_modules.py`` (``Unet``, ``RRDBNet``),
``models/commons.py`` (their building blocks), ``tasks/srdiff.py``
(``SRDiffTrainer.build_model``: how the YAML hyper-parameters become
constructor arguments) and ``configs/diffsr_base.yaml``,
``configs/diffsr_df2k4x.yaml``, ``configs/diffsr_celeb.yaml``.

What is matched (proven by ``tests/published/test_srdiff.py`` against
fixtures made by the reference code, see docs/published.md):

* the state dict of the reference ``GaussianDiffusion`` -- keys, shapes and
  order: the twelve schedule buffers (``betas``, ``alphas_cumprod``, ...,
  ``posterior_mean_coef2``) computed exactly as the reference does (float64
  NumPy, stored as float32), then ``denoise_fn.*`` (the U-Net) and ``rrdb.*``
  (the RRDB encoder).  Published checkpoints keep it under
  ``torch.load(ckpt, weights_only=True)["state_dict"]["model"]``;
* ``rrdb(img_lr, get_fea=False)``: the LR image in [-1, 1] to the clamped
  RRDB super-resolution in [-1, 1], and with ``get_fea=True`` also the list
  of the ``nb`` block outputs plus the trunk output;
* ``denoise_fn(x, time, cond, img_lr_up)``: the noise prediction for the
  residual ``x`` at integer steps ``time`` conditioned on the RRDB feature
  list ``cond`` (every third entry, from the third, is concatenated and
  up-projected by a transposed convolution) and, with ``res`` and
  ``up_input``, on the bicubic upsampling ``img_lr_up``;
* every hyper-parameter that changes the state dict: ``sr_scale`` (a third
  up-convolution at x8), ``use_attn`` (linear attention at the bottleneck),
  ``res`` and ``up_input`` (an input projection of ``img_lr_up``),
  ``use_wn`` (weight-normalised convolutions: ``weight_g`` / ``weight_v``),
  ``use_rrdb`` (no ``rrdb.*`` without it), ``timesteps``,
  ``beta_schedule`` / ``beta_s`` / ``beta_end``.

The training loss and the sampler of the reference are not part of this
module: the schedule buffers are exposed under the reference's names for an
engine to use.

Config: ``{"Unet": {...}, "RRDBNet": {...}, "hparams": {...}}`` where
``Unet`` / ``RRDBNet`` are the reference constructors' keyword arguments and
``hparams`` the resolved SRDiff YAML configuration (the module-level
``hparams`` dict the reference modules read).  Missing model keys of
``hparams`` take the values of ``configs/diffsr_base.yaml`` (which every
SRDiff diffusion config inherits); ``sr_scale`` has no default there and is
required.  Without ``Unet`` / ``RRDBNet`` their arguments are derived from
``hparams`` as ``build_model`` derives them; an optional
``"GaussianDiffusion": {"timesteps": ..., "loss_type": ...}`` likewise
defaults to ``hparams["timesteps"]`` / ``hparams["loss_type"]``.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Model-relevant keys of the reference's ``configs/diffsr_base.yaml`` (their values there).
BASE_HPARAMS: dict[str, Any] = {
    "beta_schedule": "cosine",
    "beta_s": 0.008,
    "beta_end": 0.02,
    "hidden_size": 64,
    "timesteps": 100,
    "res": True,
    "res_rescale": 2.0,
    "up_input": False,
    "use_wn": False,
    "gn_groups": 0,
    "use_rrdb": True,
    "rrdb_num_block": 8,
    "rrdb_num_feat": 32,
    "unet_dim_mults": "1|2|2|4",
    "clip_input": True,
    "use_attn": False,
    "aux_l1_loss": True,
    "aux_ssim_loss": False,
    "aux_percep_loss": False,
    "loss_type": "l1",
    "pred_noise": True,
    "weight_init": False,
    "fix_rrdb": True,
}

#: The published configurations' overrides of ``BASE_HPARAMS`` (``configs/diffsr_df2k4x.yaml`` with
#: ``configs/df2k4x.yaml``; ``configs/diffsr_celeb.yaml`` with ``configs/celeb_a.yaml``).
PUBLISHED_HPARAMS: dict[str, dict[str, Any]] = {
    "df2k4x": {"sr_scale": 4, "unet_dim_mults": "1|2|3|4"},
    "celeb_a8x": {"sr_scale": 8},
}

#: Beta schedules the reference ``GaussianDiffusion`` accepts.
BETA_SCHEDULES = ("cosine", "linear")


# ---------------------------------------------------------------------------------------------- config


def _dim_mults(value: Any) -> list[int]:
    """``"1|2|3|4"`` (the YAML form) or a sequence of ints, as a list of ints."""
    if isinstance(value, str):
        return [int(part) for part in value.split("|")]
    return [int(part) for part in value]


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The four constructor argument sets (``Unet``, ``RRDBNet`` or None, ``GaussianDiffusion``, ``hparams``).

    Follows ``SRDiffTrainer.build_model``: ``Unet(hidden_size, out_dim=3,
    cond_dim=rrdb_num_feat, dim_mults=unet_dim_mults)``, and with ``use_rrdb``
    ``RRDBNet(3, 3, rrdb_num_feat, rrdb_num_block, rrdb_num_feat // 2)``.
    Sections given explicitly in ``config`` win over the derived ones.
    """
    unknown = set(config) - {"Unet", "RRDBNet", "GaussianDiffusion", "hparams"}
    if unknown:
        raise KeyError(f"srdiff config: unknown section(s) {sorted(unknown)}; expected Unet, RRDBNet, GaussianDiffusion, hparams")
    hparams = {**BASE_HPARAMS, **dict(config.get("hparams") or {})}
    if "sr_scale" not in hparams:
        raise KeyError("srdiff config: hparams.sr_scale is required (4 for DF2K, 8 for CelebA)")
    if hparams["beta_schedule"] not in BETA_SCHEDULES:
        raise ValueError(f"srdiff config: beta_schedule '{hparams['beta_schedule']}' is not one of {BETA_SCHEDULES}")

    unet = dict(config["Unet"]) if config.get("Unet") is not None else {
        "dim": hparams["hidden_size"],
        "out_dim": 3,
        "cond_dim": hparams["rrdb_num_feat"],
        "dim_mults": _dim_mults(hparams["unet_dim_mults"]),
    }
    if config.get("RRDBNet") is not None:
        rrdb: dict[str, Any] | None = dict(config["RRDBNet"])
    elif hparams["use_rrdb"]:
        nf = hparams["rrdb_num_feat"]
        rrdb = {"in_nc": 3, "out_nc": 3, "nf": nf, "nb": hparams["rrdb_num_block"], "gc": nf // 2}
    else:
        rrdb = None
    diffusion = {"timesteps": hparams["timesteps"], "loss_type": hparams["loss_type"]}
    diffusion.update(dict(config.get("GaussianDiffusion") or {}))
    return {"Unet": unet, "RRDBNet": rrdb, "GaussianDiffusion": diffusion, "hparams": hparams}


# ---------------------------------------------------------------------------------------------- blocks


class _Mish(nn.Module):
    """Mish activation written out as ``x * tanh(softplus(x))``, as the reference computes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


def _timestep_embedding(time: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of the step index: ``dim // 2`` sines then as many cosines (frequency ratio 1e4)."""
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=time.device) * -step)
    angles = time[:, None] * freqs[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class _ConvBlock(nn.Module):
    """Reflection pad 1, 3x3 convolution, Mish (SRDiff uses no group norm: the U-Net passes groups=0).

    Keys: ``block.1.{weight,bias}`` (index 0 is the padding, 2 the activation).
    """

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels_in, channels_out, 3), _Mish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _ResBlock(nn.Module):
    """Two conv blocks with the projected time embedding added between them and a (1x1 when needed) skip."""

    def __init__(self, channels_in: int, channels_out: int, time_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(_Mish(), nn.Linear(time_dim, channels_out))
        self.block1 = _ConvBlock(channels_in, channels_out)
        self.block2 = _ConvBlock(channels_out, channels_out)
        self.res_conv: nn.Module = nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor) -> torch.Tensor:
        hidden = self.block1(x) + self.mlp(time_emb)[:, :, None, None]
        return self.block2(hidden) + self.res_conv(x)


class _Down(nn.Module):
    """Stride-2 3x3 convolution after reflection padding (``conv.1``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Up(nn.Module):
    """4x4 stride-2 transposed convolution (``conv.0``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.ConvTranspose2d(channels, channels, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _LinearAttention(nn.Module):
    """Linear attention (keys softmaxed over positions), 4 heads of 32 channels, 1x1 in/out projections."""

    def __init__(self, channels: int, heads: int = 4, head_channels: int = 32) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_channels
        self.to_qkv = nn.Conv2d(channels, inner * 3, 1, bias=False)
        self.to_out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        qkv = self.to_qkv(x).reshape(batch, 3, self.heads, -1, height * width).transpose(0, 1)
        query, key, value = qkv[0], qkv[1], qkv[2].contiguous()
        key = key.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", key, value)
        out = torch.einsum("bhde,bhdn->bhen", context, query)
        return self.to_out(out.reshape(batch, -1, height, width))


class _GatedAttention(nn.Module):
    """``x + g * attention(x)`` with a learnt scalar gate ``g`` starting at zero (ReZero); keys ``fn.fn.*``, ``fn.g``."""

    class _Gate(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.fn = inner
            self.g = nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x) * self.g

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fn = self._Gate(_LinearAttention(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def _scaled_kaiming(module: nn.Module, scale: float = 0.1) -> None:
    """The reference's optional ``weight_init``: Kaiming-normal (fan-in) times ``scale`` for 2D convs and linears, zero bias."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(sub.weight, a=0, mode="fan_in")
            sub.weight.data.mul_(scale)
            if sub.bias is not None:
                sub.bias.data.zero_()


# ---------------------------------------------------------------------------------------------- denoiser


class SRDiffUnet(nn.Module):
    """SRDiff's noise-prediction U-Net (reference ``models/diffsr_modules.py: Unet``).

    ``dim``: base width; ``dim_mults``: width multipliers per resolution
    (two residual blocks each, stride-2 down between levels); ``cond_dim``:
    the RRDB feature width.  Reads ``sr_scale``, ``rrdb_num_block``,
    ``use_attn``, ``res``, ``up_input``, ``use_wn`` and ``weight_init`` from
    ``hparams`` as the reference reads its global config.  The RRDB features
    (``(rrdb_num_block + 1) // 3`` maps of ``cond_dim`` channels at LR size)
    are brought to HR size by one transposed convolution (kernel
    ``2 * sr_scale``, stride ``sr_scale``) and added after the first level.
    """

    def __init__(
        self,
        dim: int,
        out_dim: int | None = None,
        dim_mults: Sequence[int] = (1, 2, 4, 8),
        cond_dim: int = 32,
        *,
        hparams: Mapping[str, Any],
    ) -> None:
        super().__init__()
        if out_dim is None:
            raise ValueError("SRDiffUnet: out_dim is required (SRDiff builds it with out_dim=3)")
        self.hparams = dict(hparams)
        self.dim = dim
        widths = [3, *(dim * int(m) for m in dim_mults)]
        pairs = list(zip(widths[:-1], widths[1:]))
        scale = int(hparams["sr_scale"])
        n_cond = (int(hparams["rrdb_num_block"]) + 1) // 3
        self.cond_proj = nn.ConvTranspose2d(cond_dim * n_cond, dim, scale * 2, scale, scale // 2)
        # No parameters in the sinusoidal embedding; the reference's module holding it has none either.
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), _Mish(), nn.Linear(dim * 4, dim))

        # Both lists are registered before the bottleneck: this fixes the state-dict order (downs, ups, mid_*).
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level, (c_in, c_out) in enumerate(pairs):
            last = level == len(pairs) - 1
            self.downs.append(nn.ModuleList([
                _ResBlock(c_in, c_out, dim),
                _ResBlock(c_out, c_out, dim),
                nn.Identity() if last else _Down(c_out),
            ]))
        bottom = widths[-1]
        self.mid_block1 = _ResBlock(bottom, bottom, dim)
        self.use_attn = bool(hparams["use_attn"])
        if self.use_attn:
            self.mid_attn = _GatedAttention(bottom)
        self.mid_block2 = _ResBlock(bottom, bottom, dim)
        for c_in, c_out in reversed(pairs[1:]):
            # Every decoder level ends in an upsampling (the reference's "is_last" never holds here).
            self.ups.append(nn.ModuleList([_ResBlock(c_out * 2, c_in, dim), _ResBlock(c_in, c_in, dim), _Up(c_in)]))
        self.final_conv = nn.Sequential(_ConvBlock(dim, dim), nn.Conv2d(dim, out_dim, 1))

        self.uses_lr_up = bool(hparams["res"]) and bool(hparams["up_input"])
        if self.uses_lr_up:
            self.up_proj = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, dim, 3))
        if hparams["use_wn"]:
            self.apply_weight_norm()
        if hparams["weight_init"]:
            _scaled_kaiming(self)

    def apply_weight_norm(self) -> None:
        """Weight-normalise every Conv1d/Conv2d (not the transposed ones): ``weight`` becomes ``weight_g`` and ``weight_v``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            for module in list(self.modules()):
                if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                    torch.nn.utils.weight_norm(module)

    def make_generation_fast_(self) -> None:
        """Fold weight normalisation back into plain weights (no-op for modules without it)."""
        for module in self.modules():
            try:
                nn.utils.remove_weight_norm(module)
            except ValueError:
                continue

    def forward(self, x: torch.Tensor, time: torch.Tensor, cond: Sequence[torch.Tensor], img_lr_up: torch.Tensor) -> torch.Tensor:
        """Predicted noise for ``x`` (B, 3, H, W) at steps ``time`` (B,), given the RRDB feature list ``cond``."""
        emb = self.mlp(_timestep_embedding(time, self.dim))
        cond_hr = self.cond_proj(torch.cat(list(cond[2::3]), 1))
        skips = []
        for level, (res1, res2, down) in enumerate(self.downs):
            x = res2(res1(x, emb), emb)
            if level == 0:
                x = x + cond_hr
                if self.uses_lr_up:
                    x = x + self.up_proj(img_lr_up)
            skips.append(x)
            x = down(x)
        x = self.mid_block1(x, emb)
        if self.use_attn:
            x = self.mid_attn(x)
        x = self.mid_block2(x, emb)
        for res1, res2, up in self.ups:
            x = torch.cat((x, skips.pop()), dim=1)
            x = up(res2(res1(x, emb), emb))
        return self.final_conv(x)


# ---------------------------------------------------------------------------------------------- encoder


class _DenseBlock(nn.Module):
    """Five densely connected 3x3 convs (growth ``gc``), LeakyReLU 0.2, output scaled by 0.2 plus the input."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        for index in range(4):
            setattr(self, f"conv{index + 1}", nn.Conv2d(nf + index * gc, gc, 3, 1, 1))
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for index in range(1, 5):
            conv = getattr(self, f"conv{index}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class _RRDB(nn.Module):
    """Three dense blocks in sequence, scaled by 0.2 plus the input (ESRGAN's residual-in-residual block)."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.RDB1 = _DenseBlock(nf, gc)
        self.RDB2 = _DenseBlock(nf, gc)
        self.RDB3 = _DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class SRDiffRRDBNet(nn.Module):
    """SRDiff's LR encoder (reference ``models/diffsr_modules.py: RRDBNet``, ESRGAN's generator).

    ``in_nc`` / ``out_nc`` channels, ``nf`` features, ``nb`` RRDB blocks of
    growth ``gc``; nearest x2 up-convolutions, two for ``sr_scale`` 4 and
    three for 8 (``hparams["sr_scale"]``).  Input and output in [-1, 1].
    """

    def __init__(self, in_nc: int, out_nc: int, nf: int, nb: int, gc: int = 32, *, hparams: Mapping[str, Any]) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.RRDB_trunk = nn.ModuleList([_RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.x8 = int(hparams["sr_scale"]) == 8
        if self.x8:
            self.upconv3 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2)

    def forward(self, x: torch.Tensor, get_fea: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The RRDB super-resolution of ``x`` in [-1, 1]; with ``get_fea`` also the ``nb + 1`` trunk feature maps."""
        features = []
        head = hidden = self.conv_first((x + 1) / 2)
        for block in self.RRDB_trunk:
            hidden = block(hidden)
            features.append(hidden)
        hidden = head + self.trunk_conv(hidden)
        features.append(hidden)
        ups = [self.upconv1, self.upconv2] + ([self.upconv3] if self.x8 else [])
        for conv in ups:
            hidden = self.lrelu(conv(F.interpolate(hidden, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.HRconv(hidden))).clamp(0, 1) * 2 - 1
        return (out, features) if get_fea else out


# ---------------------------------------------------------------------------------------------- diffusion


def _betas(hparams: Mapping[str, Any], timesteps: int) -> np.ndarray:
    """The reference's beta schedules in float64: cosine (Nichol & Dhariwal 2021, offset ``beta_s``, clipped at 0.999)
    or linear from 1e-4 to ``beta_end`` (last beta forced to 0.999 when ``res``, so x_T is almost pure noise)."""
    if hparams["beta_schedule"] == "cosine":
        steps = timesteps + 1
        grid = np.linspace(0, steps, steps)
        cumulative = np.cos(((grid / steps) + hparams["beta_s"]) / (1 + hparams["beta_s"]) * np.pi * 0.5) ** 2
        cumulative = cumulative / cumulative[0]
        return np.clip(1 - (cumulative[1:] / cumulative[:-1]), a_min=0, a_max=0.999)
    if hparams["beta_schedule"] == "linear":
        betas = np.linspace(0.0001, hparams["beta_end"], timesteps, dtype=np.float64)
        if hparams["res"]:
            betas[-1] = 0.999
        return betas
    raise ValueError(f"beta_schedule '{hparams['beta_schedule']}' is not one of {BETA_SCHEDULES}")


class SRDiffDiffusion(nn.Module):
    """SRDiff's ``GaussianDiffusion`` container: ``denoise_fn``, ``rrdb`` and the schedule buffers under the reference's names."""

    def __init__(
        self,
        denoise_fn: nn.Module,
        rrdb_net: nn.Module | None,
        timesteps: int = 1000,
        loss_type: str = "l1",
        *,
        hparams: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.hparams = dict(hparams)
        self.denoise_fn = denoise_fn
        self.rrdb = rrdb_net
        betas = _betas(hparams, int(timesteps))
        alphas = 1.0 - betas
        cumprod = np.cumprod(alphas, axis=0)
        cumprod_prev = np.append(1.0, cumprod[:-1])
        self.num_timesteps = int(betas.shape[0])
        self.loss_type = loss_type
        posterior_variance = betas * (1.0 - cumprod_prev) / (1.0 - cumprod)
        schedule = {
            "betas": betas,
            "alphas_cumprod": cumprod,
            "alphas_cumprod_prev": cumprod_prev,
            "sqrt_alphas_cumprod": np.sqrt(cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - cumprod),
            "log_one_minus_alphas_cumprod": np.log(1.0 - cumprod),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / cumprod),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / cumprod - 1),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": np.log(np.maximum(posterior_variance, 1e-20)),
            "posterior_mean_coef1": betas * np.sqrt(cumprod_prev) / (1.0 - cumprod),
            "posterior_mean_coef2": (1.0 - cumprod_prev) * np.sqrt(alphas) / (1.0 - cumprod),
        }
        for name, values in schedule.items():
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "the SRDiff training loss and sampler are not rebuilt here; call .rrdb(img_lr, get_fea=True) and "
            ".denoise_fn(x, t, cond, img_lr_up) with the schedule buffers"
        )


#: Names of the schedule buffers, in the reference's registration order.
SCHEDULE_BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)


def build(config: Mapping[str, Any]) -> SRDiffDiffusion:
    """SRDiff's ``GaussianDiffusion`` (U-Net + RRDB encoder + schedule) from ``{"Unet", "RRDBNet", "hparams"}``.

    See the module docstring for how missing sections are derived; e.g.
    ``build({"hparams": PUBLISHED_HPARAMS["df2k4x"]})`` is the published
    DF2K x4 model.
    """
    resolved = resolve_config(config)
    hparams = resolved["hparams"]
    unet = SRDiffUnet(**resolved["Unet"], hparams=hparams)
    rrdb = SRDiffRRDBNet(**resolved["RRDBNet"], hparams=hparams) if resolved["RRDBNet"] is not None else None
    return SRDiffDiffusion(unet, rrdb, **resolved["GaussianDiffusion"], hparams=hparams)


__all__ = [
    "BASE_HPARAMS",
    "BETA_SCHEDULES",
    "PUBLISHED_HPARAMS",
    "SCHEDULE_BUFFERS",
    "SRDiffDiffusion",
    "SRDiffRRDBNet",
    "SRDiffUnet",
    "build",
    "resolve_config",
]

"""ResShift's VQ-f4 autoencoder (zsyOAOA/ResShift ``VQModelTorch``) rebuilt by restore_core.published.

The manifests and the fixture were made by the reference code
(scripts/make_published_fixtures.py --reference-dir resshift-vq-f4=<checkout>);
see docs/published.md.  These tests pin the state-dict layout of the published
autoencoders and encode / quantize / decode / forward against the reference.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from restore_core.published import build
from tests.published.facts import manifest, section

HERE = Path(__file__).resolve().parent
ARCH = "resshift-vq-f4"
PUBLISHED = ("autoencoder_vq_f4", "ffhq512_vq_f8_dim8_face")
TOLERANCE = 1e-5


_manifest = partial(manifest, ARCH)
_section = section

@pytest.fixture(scope="module")
def small() -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(config, float32 state dict, inputs, reference outputs) of the small random-weight fixture."""
    with safe_open(str(HERE / "fixtures" / f"{ARCH}-small.safetensors"), "pt") as handle:
        metadata, tensors = handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}
    assert metadata["reference_commit"] == _manifest("autoencoder_vq_f4")["reference"]["commit"]
    # weights are float16-exact float32 values stored as float16 (see the fixture's metadata)
    state = {k: v.float() if v.is_floating_point() else v for k, v in _section(tensors, "state_dict.").items()}
    return json.loads(metadata["config"]), state, _section(tensors, "input."), _section(tensors, "output.")


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configuration_has_the_reference_keys_and_shapes(name: str) -> None:
    """Every key, shape and dtype of the published VQ-f4 (and face VQ-f8) autoencoder, in the reference's order."""
    manifest = _manifest(name)
    with torch.device("meta"):
        model = build(ARCH, manifest["config"])
    ours = [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
    assert ours == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE


def test_published_f4_configuration_is_the_one_resshift_ships() -> None:
    """The manifest's arguments are those of ResShift's realsr/bicsr configs (embed_dim 3, 8192 codes, ch 128, f4)."""
    config = _manifest("autoencoder_vq_f4")["config"]
    assert config["embed_dim"] == 3 and config["n_embed"] == 8192
    dd = config["ddconfig"]
    assert (dd["ch"], dd["ch_mult"], dd["num_res_blocks"], dd["z_channels"], dd["double_z"]) == (128, [1, 2, 4], 2, 3, False)
    assert dd["attn_resolutions"] == [] and dd["padding_mode"] == "zeros"


def test_small_fixture_matches_reference_outputs(small) -> None:
    """The reference's random weights load strict=True; encode, quantize, decode (+/- quantising), forward agree <= 1e-5."""
    config, state, inputs, expected = small
    model = build(ARCH, config).eval()
    model.load_state_dict(state, strict=True)
    x = inputs["x"]
    with torch.no_grad():
        h = model.encode(x)
        torch.testing.assert_close(h, expected["encode"], rtol=0, atol=TOLERANCE)
        z_q, loss, (perplexity, encodings, indices) = model.quantize(expected["encode"])
        assert perplexity is None and encodings is None
        assert torch.equal(indices, expected["quantize.indices"])
        assert indices.unique().numel() > 8  # the fixture's codebook is spread over the latents: quantising matters
        torch.testing.assert_close(z_q, expected["quantize.z_q"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(loss.reshape(1), expected["quantize.loss"], rtol=0, atol=TOLERANCE)
        decoded = model.decode(expected["encode"])
        torch.testing.assert_close(decoded, expected["decode"], rtol=0, atol=TOLERANCE)
        not_quantized = model.decode(expected["encode"], force_not_quantize=True)
        torch.testing.assert_close(not_quantized, expected["decode_not_quantized"], rtol=0, atol=TOLERANCE)
        assert (decoded - not_quantized).abs().max() > 100 * TOLERANCE
        torch.testing.assert_close(model(x), expected["forward"], rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(model(x, force_not_quantize=True), expected["forward_not_quantized"], rtol=0,
                                   atol=TOLERANCE)
    assert x.shape[-2:] == expected["forward"].shape[-2:] and x.shape[-1] != x.shape[-2]


def test_quantizer_extras(small) -> None:
    """get_codebook_entry rebuilds z_q from the indices; sane_index_shape gives b x h x w indices; bad Gumbel args fail."""
    config, state, _, expected = small
    model = build(ARCH, {**config, "sane_index_shape": True}).eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        _, _, (_, _, indices) = model.quantize(expected["encode"])
        b, c, h, w = expected["encode"].shape
        assert indices.shape == (b, h, w)
        assert torch.equal(indices.reshape(-1, 1), expected["quantize.indices"].reshape(-1, 1))
        codewords = model.quantize.get_codebook_entry(indices.reshape(-1), (b, h, w, c))
        torch.testing.assert_close(codewords, expected["quantize.z_q"], rtol=0, atol=TOLERANCE)
    with pytest.raises(ValueError, match="Gumbel"):
        model.quantize(expected["encode"], temp=0.5)


def test_signatures_are_the_reference_ones() -> None:
    """encode(x), decode(h, force_not_quantize=False), forward(input, force_not_quantize=False), as VQModelTorch."""
    with torch.device("meta"):
        model = build(ARCH, _manifest("autoencoder_vq_f4")["config"])
    assert list(inspect.signature(model.encode).parameters) == ["x"]
    for method, first in ((model.decode, "h"), (model.forward, "input")):
        parameters = inspect.signature(method).parameters
        assert list(parameters) == [first, "force_not_quantize"] and parameters["force_not_quantize"].default is False
    assert model.quantize.beta == 0.25 and model.quantize.legacy is True


def test_unsupported_attention_kind_is_refused() -> None:
    """attn_type values the reference's make_attn cannot build are refused here too ("none" builds no attention)."""
    dd = dict(_manifest("autoencoder_vq_f4")["config"]["ddconfig"], ch=32, ch_mult=[1], num_res_blocks=1)
    with pytest.raises(NotImplementedError, match="linear"):
        build(ARCH, {"ddconfig": {**dd, "attn_type": "linear"}, "n_embed": 4, "embed_dim": 3})
    with torch.device("meta"):
        model = build(ARCH, {"ddconfig": {**dd, "attn_type": "none"}, "n_embed": 4, "embed_dim": 3})
    assert not any(".attn" in key for key in model.state_dict())

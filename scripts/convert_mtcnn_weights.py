"""Convert the MTCNN weights of the facenet-pytorch wheel into one safetensors file.

Where the weights come from: the PyPI wheel ``facenet-pytorch`` 2.6.0 (MIT
licence, (c) 2019 Timothy Esler) ships the three MTCNN networks as PyTorch
state dicts ``facenet_pytorch/data/{pnet,rnet,onet}.pt``. facenet-pytorch
ported them (its ``models/utils/tensorflow2pytorch.py``) from the TensorFlow
MTCNN of davidsandberg/facenet (``src/align/det{1,2,3}.npy``, MIT), which in
turn is a port of the original Caffe models released by Zhang et al. with the
paper (kpzhang93/MTCNN_face_detection_alignment, MIT). Licence text and
provenance: ``plugins/face/restore_face/weights/MTCNN_LICENSE.txt``.

The output holds every tensor as float32 under the keys ``pnet.*``, ``rnet.*``
and ``onet.*`` (the facenet-pytorch state-dict keys, prefixed), which
``restore_face.detection.mtcnn.MTCNNDetector`` loads strictly. The files are
read with ``torch.load(..., weights_only=True)``: no pickled code runs.

The shipped file was made with::

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fnp
    .venv/bin/python scripts/convert_mtcnn_weights.py \\
        /tmp/fnp/facenet_pytorch-2.6.0-py3-none-any.whl \\
        plugins/face/restore_face/weights/mtcnn.safetensors

(wheel sha256 ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca;
output sha256 59d643d09aac8074904a124a160efe92ba806f2fc4d14450b03fb889b24e0c76, byte-reproducible).

SOURCE may also be a folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``
(e.g. an unpacked wheel's ``facenet_pytorch/data``).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

NETS = ("pnet", "rnet", "onet")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "plugins/face/restore_face/weights/mtcnn.safetensors"


def _read_state_dicts(source: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The three state dicts from a wheel (zip) or a folder of ``*.pt`` files."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    if source.is_dir():
        for net in NETS:
            out[net] = torch.load(source / f"{net}.pt", map_location="cpu", weights_only=True)
        return out
    with zipfile.ZipFile(source) as wheel:
        for net in NETS:
            data = wheel.read(f"facenet_pytorch/data/{net}.pt")
            out[net] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return out


def convert(source: Path, target: Path) -> dict[str, torch.Tensor]:
    """Write the prefixed float32 tensors of all three nets to ``target``; return them."""
    tensors: dict[str, torch.Tensor] = {}
    for net, state in _read_state_dicts(source).items():
        for key, value in state.items():
            tensors[f"{net}.{key}"] = value.detach().to(torch.float32).contiguous()
    sha = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else "unpacked folder"
    # one metadata key only: safetensors writes metadata from a hash map, so several keys
    # would come out in a random order and the file would not be byte-reproducible
    metadata = {"provenance": (
        f"facenet-pytorch {source.name} (sha256 {sha}), MIT, (c) 2019 Timothy Esler; "
        "ported from davidsandberg/facenet (MIT) of the MTCNN Caffe models of Zhang et al. 2016 "
        "(kpzhang93/MTCNN_face_detection_alignment, MIT); see MTCNN_LICENSE.txt")}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata=metadata)
    return tensors


def main() -> None:
    """Command line: SOURCE (wheel or folder) [TARGET]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="facenet_pytorch-*.whl or a folder with pnet/rnet/onet.pt")
    parser.add_argument("target", type=Path, nargs="?", default=DEFAULT_OUT)
    args = parser.parse_args()
    tensors = convert(args.source, args.target)
    n = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.target}: {len(tensors)} tensors, {n} parameters, {args.target.stat().st_size} bytes")


if __name__ == "__main__":
    main()

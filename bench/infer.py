"""Batch inference: end to end through the engine against the bare forward pass.

End to end = what a predict job does: load the artifact, read every image from its zstd file
(as the pixel cache stores it) and preprocess it (threaded), forward in batches, post-process
into per-case predictions, store them (JSON lines). Bare = the same model's forward over the
same already-prepared tensors.
Also the gain of the engine's mixed precision + channels_last over fp32 contiguous.
Goals (issue 4): end-to-end images/s >= 0.85 x bare; bf16 + channels_last about 3-4x fp32
on ResNet (this CPU).

    .venv/bin/python bench/infer.py
    python bench/infer.py --device cuda --images 4096 --size 224 --batch 256
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import zstandard  # noqa: E402

from bench.engine_common import result_header, sync  # noqa: E402
from ml.engine import api  # noqa: E402
from ml.engine.artifact import save_artifact  # noqa: E402
from ml.engine.pipelines.base import amp_dtype  # noqa: E402
from ml.engine.synthetic import blob_cases  # noqa: E402


@torch.no_grad()
def bare_forward(model, images, batch, dtype, channels_last, device, repeats) -> float:
    """Best-of-`repeats` seconds for one pass of the forward over the prepared tensors."""
    if isinstance(model, torch.nn.Module):
        model.eval()
        model = model.to(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format
        )
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up kernels
        sync(device)
        t0 = time.perf_counter()
        for start in range(0, len(images), batch):
            x = images[start : start + batch].float()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(
                device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                model(x)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


class _OrtRunner:
    """ONNX Runtime session called like the torch network (tensor in, tensor out)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"image": x.contiguous().numpy()})[0])


def onnxruntime_forward(model, recipe, images, args, engine_dtype, device) -> dict:
    """Would an exported ONNX Runtime model beat the engine's own CPU mode? (fp32 export)"""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return {"onnxruntime": "not installed (pip install onnx onnxruntime to compare)"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        model = model.eval().to(memory_format=torch.contiguous_format)
        # The TorchScript exporter (dynamo=False): the newer one needs onnxscript too.
        torch.onnx.export(
            model,
            (images[:1].float(),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}},
        )
        runner = _OrtRunner(path)
        ort_s, torch_s = [], []
        for _ in range(args.repeats):  # interleaved with torch's engine mode
            ort_s.append(bare_forward(runner, images, args.batch, None, False, device, 1))
            torch_s.append(bare_forward(model, images, args.batch, engine_dtype, True, device, 1))
    n = len(images)
    return {
        "onnxruntime_fp32_images_per_s": round(n / min(ort_s), 1),
        "onnxruntime_vs_engine_mode": round(min(torch_s) / min(ort_s), 2),
    }


def _read_stored(path: Path, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(zstandard.decompress(path.read_bytes()), dtype).reshape(shape)


def stored_cases(cases: list, folder: Path) -> list:
    """The cases with their pixels written once as zstd files, as the platform's pixel cache
    holds them (zstd-raw/1): a predict job reads and decompresses each image from disk, so the
    end-to-end figure pays that read, not the synthetic images' generation."""
    compressor = zstandard.ZstdCompressor(level=3)
    out = []
    for case in cases:
        images = []
        for ref in case.images:
            pixels = np.ascontiguousarray(ref.load())
            path = folder / f"{ref.key}.zst"
            path.write_bytes(compressor.compress(pixels.tobytes()))
            load = functools.partial(_read_stored, path, pixels.dtype.str, pixels.shape)
            images.append(dataclasses.replace(ref, load=load))
        out.append(dataclasses.replace(case, images=tuple(images)))
    return out


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    device = torch.device(args.device)
    recipe = dataclasses.replace(
        api.load_recipe(args.recipe),
        network=args.network,
        input_size=(args.size, args.size),
        batch_size=args.batch // 2,
        precision=args.precision,
    )
    pipe = api.make_pipeline(recipe, str(device))
    model = pipe.network()
    with tempfile.TemporaryDirectory() as tmp:
        cases = stored_cases(blob_cases(args.images, size=args.raw_size, seed=2), Path(tmp))
        artifact = Path(tmp) / "model.pt"
        save_artifact(artifact, model, recipe, temperature=1.0, threshold=0.5)
        api.predict(artifact, cases[: args.batch], device=str(device))  # warm-up
        cache = pipe.cache(cases, labelled_only=False)
        e2e, bare = [], []
        for _ in range(args.repeats):  # interleaved: a shared machine's load hits both alike
            bare.append(bare_forward(model, cache.images, args.batch, pipe.dtype, True, device, 1))
            sync(device)
            t0 = time.perf_counter()
            preds = api.predict(artifact, cases, device=str(device))
            with open(Path(tmp) / "predictions.jsonl", "w") as fh:
                for p in preds:
                    fh.write(
                        json.dumps(
                            {
                                "case": p.case_key,
                                "p": p.probability,
                                "label": p.label,
                                "scores": p.scores,
                            }
                        )
                        + "\n"
                    )
            sync(device)
            e2e.append(time.perf_counter() - t0)
    n = len(cache)
    engine_dtype = pipe.dtype
    bare = min(bare)
    fp32 = bare_forward(model, cache.images, args.batch, None, False, device, args.repeats)
    out = {
        **result_header(device, args, n, engine_dtype),
        "end_to_end_images_per_s": round(n / min(e2e), 1),
        "bare_forward_images_per_s": round(n / bare, 1),
        "end_to_end_vs_bare": round(bare / min(e2e), 3),
        "fp32_contiguous_images_per_s": round(n / fp32, 1),
        "mixed_precision_channels_last_gain": round(fp32 / bare, 2),
    }
    if device.type == "cpu" and args.onnx:
        out.update(onnxruntime_forward(model, recipe, cache.images, args, engine_dtype, device))
    if device.type == "cuda":
        fp16 = bare_forward(
            model, cache.images, args.batch, torch.float16, True, device, args.repeats
        )
        out["fp16_channels_last_images_per_s"] = round(n / fp16, 1)
    elif engine_dtype is None:
        forced = amp_dtype(device, "bf16")
        bf16 = bare_forward(model, cache.images, args.batch, forced, True, device, args.repeats)
        out["bf16_channels_last_gain"] = round(fp32 / bf16, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="busi-malignancy")
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--raw-size", type=int, default=192)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--onnx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="on CPU, also time ONNX Runtime's forward (if installed)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""What bench/train.py and bench/infer.py share: device sync and the header of their results."""

from __future__ import annotations

import argparse

import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer reads the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def result_header(
    device: torch.device, args: argparse.Namespace, images: int, dtype: torch.dtype | None
) -> dict:
    """Where and on what a figure was measured: the first keys of either bench's result."""
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else "",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "network": args.network,
        "size": args.size,
        "images": images,
        "batch": args.batch,
        "precision": str(dtype or "fp32"),
    }

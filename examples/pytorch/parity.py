"""PyTorch's side of the small-ResNet parity check: the same weights and the same batch give
the engine's logits, loss and gradients.

    python examples/pytorch/parity.py --weights W.safetensors --batch B.safetensors --out O.safetensors

B holds `input` (`[N, C, H, W]`, already normalised) and `target` (int64 `[N]`). O gets
`logits_eval` (eval mode), `logits_train` and `loss` (train mode: batch statistics, mean cross
entropy), and `grad.NAME` for every parameter after `loss.backward()`. Tests/BridgeTests compares
them with the engine's own.
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from small_resnet import small_resnet_for  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    weights, _ = safetensors_io.load(args.weights)
    batch, _ = safetensors_io.load(args.batch)
    for name in ("input", "target"):
        if name not in batch:
            sys.exit(f"{args.batch}: no tensor named '{name}'")
    model = small_resnet_for(weights)
    model.load_state_dict(weights, strict=True)

    model.eval()
    with torch.no_grad():
        logits_eval = model(batch["input"])
    model.train()
    logits_train = model(batch["input"])
    loss = F.cross_entropy(logits_train, batch["target"])
    loss.backward()

    out = {"logits_eval": logits_eval, "logits_train": logits_train.detach(), "loss": loss.detach().reshape(1)}
    out.update({f"grad.{name}": p.grad for name, p in model.named_parameters()})
    safetensors_io.save(out, args.out, {"torch": torch.__version__})


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        # Bad files and data are the user's to fix: one line naming them, not a traceback.
        sys.exit(f"parity.py: error: {e}")

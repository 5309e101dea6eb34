"""Fine-tunes a model the workbook's engine exported, with DistributedDataParallel, and writes it back.

    torchrun --standalone --nproc_per_node=2 examples/pytorch/finetune.py \
        --weights models/fashion-a-small-resnet.safetensors --out fine-tuned.safetensors

Each process trains on its own shard of the data (DistributedSampler); DDP averages the
gradients across processes after every backward, so all replicas take the same step. The
backend is gloo on CPUs and NCCL when every process has a GPU. Run without torchrun it trains
in one process. Rank 0 writes the result as safetensors with the engine's key names, so
`model.loadStateDict(try Checkpoint.load(url), strict: true)` reads it back in the course.

Data: Fashion-MNIST read from its IDX files (Debian's dataset-fashion-mnist; no download), a
subset of its classes relabelled 0..n-1 (default: the course's task B, classes 5-9), or an
ImageFolder (`DIR/train/CLASS/*.png|jpg`, and `DIR/val` or `DIR/test` if present).
Models: the course's small ResNet (default), or a torchvision ResNet (`--arch resnet18`...,
needs torchvision) for the engine's `resnet18()` ... `resnet152()` exports.
"""

import argparse
import gzip
import math
import os
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from small_resnet import small_resnet_for  # noqa: E402

# The course's normalisation constants (FashionNormalization in Sources/Recipes): the backbone
# was pre-trained on inputs normalised with them, so fine-tuning must use the same ones.
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
# torchvision's ImageNet statistics, for ImageFolders fed to ImageNet-pre-trained ResNets.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--weights", required=True, help="safetensors file the engine wrote (the backbone to start from)")
    p.add_argument("--out", required=True, help="where rank 0 writes the fine-tuned model (safetensors)")
    p.add_argument("--arch", default="small-resnet",
                   help="small-resnet, or a torchvision ResNet name (resnet18, resnet50, ...)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=["fashion-mnist", "imagefolder"], default="fashion-mnist")
    data.add_argument("--fashion-root", default="/usr/share/datasets/fashion-mnist",
                      help="folder with Fashion-MNIST's IDX files (.gz or not)")
    data.add_argument("--classes", default="5,6,7,8,9",
                      help="Fashion-MNIST labels to keep, relabelled 0..n-1 in this order (the course's task B)")
    data.add_argument("--per-class", type=int, default=0,
                      help="keep only the first N training images of each class (0: all), as the course's k-shot sets")
    data.add_argument("--data-dir", help="ImageFolder root: DIR/train/CLASS/*, optional DIR/val or DIR/test")
    data.add_argument("--image-size", type=int, default=224, help="ImageFolder images are resized and centre-cropped to this")
    data.add_argument("--workers", type=int, default=2, help="DataLoader worker processes per rank (ImageFolder)")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: no limit)")
    train.add_argument("--batch-size", type=int, default=64, help="per process; the global batch is this x world size")
    train.add_argument("--lr", type=float, default=0.01)
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--freeze-backbone", action="store_true", help="train the new head only (a linear probe)")
    train.add_argument("--keep-head", action="store_true", help="keep the exported head instead of a fresh one")
    train.add_argument("--no-augment", dest="augment", action="store_false",
                       help="no random crop (padding 2) + horizontal flip")
    train.add_argument("--sync-bn", action="store_true",
                       help="SyncBatchNorm: batch statistics over all processes (default: per process)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--backend", choices=["gloo", "nccl"], help="default: nccl with GPUs, gloo without")
    train.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")
    check = p.add_argument_group("checking")
    check.add_argument("--no-eval", dest="evaluate", action="store_false", help="skip the test-set accuracy")
    check.add_argument("--logits-input",
                       help="safetensors file with an already normalised 'input' batch: "
                            "rank 0 writes the final model's eval logits on it")
    check.add_argument("--logits-out", help="where to write those logits ('logits'), next to the input")
    check.add_argument("--check-out",
                       help="rank 0 writes the final model's eval logits on the first --check-count test images "
                            "('logits', and their positions in the test split as 'index'), to compare with the engine")
    check.add_argument("--check-count", type=int, default=16)
    args = p.parse_args(argv)
    if args.dataset == "imagefolder" and not args.data_dir:
        p.error("--dataset imagefolder needs --data-dir")
    if bool(args.logits_input) != bool(args.logits_out):
        p.error("--logits-input and --logits-out go together")
    if args.batch_size < 1 or args.epochs < 1:
        p.error("--batch-size and --epochs must be at least 1")
    try:
        classes = [int(c) for c in args.classes.split(",")]
    except ValueError:
        p.error(f"--classes {args.classes!r}: expected Fashion-MNIST labels 0-9 separated by commas, e.g. 5,6,7,8,9")
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        p.error(f"--classes {args.classes!r}: expected at least two different labels from 0-9")
    out_folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_folder):
        p.error(f"--out {args.out}: the folder {out_folder} does not exist")
    if args.arch != "small-resnet" and not args.arch.startswith(("resnet", "wide_resnet", "resnext")):
        p.error(f"--arch {args.arch!r}: expected small-resnet or a torchvision ResNet name (resnet18, resnet50, ...)")
    return args


# ---------------------------------------------------------------- distributed set-up

def init_distributed(args):
    """Joins the process group torchrun describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, ...); without torchrun, a single process. Returns (rank, world size, device)."""
    if "RANK" not in os.environ:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return 0, 1, device
    backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        # One GPU per process: torchrun starts one process per GPU of the node.
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), device


def log(rank, *parts):
    if rank == 0:
        print(*parts, flush=True)


# ---------------------------------------------------------------- data

def read_idx(path):
    """An IDX file (MNIST's format: big-endian magic, dimension sizes, then uint8 data) as a tensor."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    rank = data[3]
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    count = math.prod(dims)
    if len(data) != 4 + 4 * rank + count:
        raise ValueError(f"{path}: {len(data)} bytes, but dimensions {list(dims)} need {4 + 4 * rank + count}")
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def locate(root, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{os.path.join(root, name)}(.gz): Fashion-MNIST is not there. Install it with "
                            "`apt-get install dataset-fashion-mnist`, or pass --fashion-root")


def fashion_mnist(args, train):
    """`[N, 1, 28, 28]` pixels in [0, 1] and int64 labels of the chosen classes, relabelled."""
    prefix = "train" if train else "t10k"
    images = read_idx(locate(args.fashion_root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(locate(args.fashion_root, f"{prefix}-labels-idx1-ubyte")).long()
    keep = [int(c) for c in args.classes.split(",")]
    relabel = torch.full((256,), -1, dtype=torch.long)
    relabel[torch.tensor(keep)] = torch.arange(len(keep))
    new = relabel[labels]
    indices = torch.nonzero(new >= 0).flatten()
    if train and args.per_class:
        # The first N of each class, in file order: deterministic, the same on every rank.
        indices = torch.cat([indices[new[indices] == c][:args.per_class] for c in range(len(keep))]).sort().values
    x = images[indices].float().unsqueeze(1) / 255
    return TensorDataset(x, new[indices]), len(keep)


class ImageFolderDataset(Dataset):
    """DIR/CLASS/IMAGE files; classes are the sorted folder names, as torchvision's ImageFolder.
    Images are decoded per sample (in DataLoader workers), so the folder may be larger than memory;
    samples are pixels in [0, 1], normalised after augmentation as in the engine."""

    EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

    def __init__(self, root, size, channels):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{root}: no such folder (an ImageFolder needs one sub-folder per class)")
        self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.samples = [(os.path.join(root, c, f), i) for i, c in enumerate(self.classes)
                        for f in sorted(os.listdir(os.path.join(root, c))) if f.lower().endswith(self.EXTENSIONS)]
        if not self.samples:
            raise ValueError(f"{root}: no images ({', '.join(self.EXTENSIONS)}) in class sub-folders")
        self.size, self.channels = size, channels

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        from PIL import Image  # Pillow, only needed for image folders
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.channels == 1 else "RGB")
                # Resize the shorter side, then centre-crop: torchvision's Resize + CenterCrop.
                scale = self.size / min(image.size)
                w, h = max(self.size, round(image.width * scale)), max(self.size, round(image.height * scale))
                image = image.resize((w, h), Image.BILINEAR)
                left, top = (w - self.size) // 2, (h - self.size) // 2
                image = image.crop((left, top, left + self.size, top + self.size))
                data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        except OSError as e:
            raise ValueError(f"{path}: cannot read the image ({e})") from None
        return data.view(self.size, self.size, self.channels).permute(2, 0, 1).float() / 255, label


def image_folder(args, train, channels):
    split = "train" if train else next((s for s in ("val", "test") if os.path.isdir(os.path.join(args.data_dir, s))), None)
    if split is None:
        return None, 0
    data = ImageFolderDataset(os.path.join(args.data_dir, split), args.image_size, channels)
    return data, len(data.classes)


def normalization(channels):
    """(mean, std) as `[1, C, 1, 1]` tensors: the course's constants for gray images, ImageNet's for RGB."""
    mean, std = ((FASHION_MEAN,), (FASHION_STD,)) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    return torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)


def augment(x, generator, padding=2):
    """Random crop of raw pixels padded with zeros, and a random horizontal flip, per image: the
    engine's `augment` (Sources/Recipes/Batches.swift), with torch's random numbers."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


# ---------------------------------------------------------------- model

def build_model(args, weights):
    """The exported architecture, loaded strictly from the engine's file (same keys, same shapes)."""
    if args.arch == "small-resnet":
        model = small_resnet_for(weights)
    else:
        try:
            import torchvision
        except ImportError:
            sys.exit(f"--arch {args.arch} needs torchvision (pip install torchvision)")
        model = getattr(torchvision.models, args.arch)(num_classes=weights["fc.weight"].shape[0])
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        sys.exit(f"{args.weights}: does not load into {args.arch} strictly:\n{e}")
    return model


def evaluate(model, loader, device, mean, std):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(((x - mean) / std).to(device)).argmax(1).cpu() == y).sum().item()
            total += len(y)
    return correct / max(total, 1), total


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = init_distributed(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    # The same seed on every rank gives every replica the same new head; DDP also broadcasts
    # rank 0's parameters when it wraps the model, so they could not drift apart anyway.
    torch.manual_seed(args.seed)

    weights, exported_metadata = safetensors_io.load(args.weights)
    model = build_model(args, weights)
    channels = model.conv1.weight.shape[1]
    mean, std = normalization(channels)

    if args.dataset == "fashion-mnist":
        train_set, classes = fashion_mnist(args, train=True)
        test_set, _ = fashion_mnist(args, train=False)
    else:
        train_set, classes = image_folder(args, True, channels)
        test_set, _ = image_folder(args, False, channels)
    log(rank, f"data: {len(train_set)} training images, {classes} classes; "
              f"{len(test_set) if test_set else 0} test images")

    if not args.keep_head:
        model.fc = nn.Linear(model.fc.in_features, classes)
    elif model.fc.out_features != classes:
        sys.exit(f"--keep-head: the exported head has {model.fc.out_features} outputs, the data {classes} classes")
    if args.freeze_backbone:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("fc.")
    if args.sync_bn and world > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world > 1 else model

    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True) \
        if world > 1 else None
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None,
                        drop_last=True, num_workers=args.workers if args.dataset == "imagefolder" else 0,
                        generator=torch.Generator().manual_seed(args.seed))
    if len(loader) == 0:
        sys.exit(f"{len(train_set)} training images make no full batch of {args.batch_size} per process "
                 f"on {world} processes: lower --batch-size")
    steps = len(loader) * args.epochs if not args.max_steps else min(args.max_steps, len(loader) * args.epochs)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    # Augmentation draws from a per-rank generator: each process crops its own shard differently.
    augment_generator = torch.Generator().manual_seed(args.seed * 1000 + rank)
    log(rank, f"training: {world} process(es), backend {dist.get_backend() if world > 1 else 'none'}, "
              f"device {device.type}, {steps} steps of {args.batch_size} x {world} images")

    step, started = 0, time.time()
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        net.train()
        if args.freeze_backbone:
            model.eval()  # frozen batch norm: keep the pre-trained running statistics
            model.fc.train()
        total_loss = 0.0
        seen = 0
        for x, y in loader:
            if args.augment and not args.freeze_backbone:
                x = augment(x, augment_generator)
            x, y = ((x - mean) / std).to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP all-reduces (averages) the gradients here
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(y)
            seen += len(y)
            step += 1
            if step >= steps:
                break
        log(rank, f"epoch {epoch + 1}: loss {total_loss / max(seen, 1):.4f} (rank 0's shard), "
                  f"{step} steps, {time.time() - started:.1f} s")
        if step >= steps:
            break
    seconds = time.time() - started

    accuracy = None
    if rank == 0 and args.evaluate and test_set is not None:
        accuracy, count = evaluate(model, DataLoader(test_set, batch_size=256), device, mean, std)
        log(rank, f"test accuracy: {accuracy * 100:.2f} % on {count} images")

    if rank == 0:
        model.eval()
        state = {k: v for k, v in model.state_dict().items()}
        metadata = {
            "format": "pt",
            "written_by": "examples/pytorch/finetune.py",
            "arch": args.arch,
            "source": os.path.basename(args.weights),
            "dataset": args.dataset if args.dataset == "imagefolder" else f"fashion-mnist classes {args.classes}",
            "per_class": str(args.per_class),
            "normalization": f"mean {FASHION_MEAN} std {FASHION_STD}" if channels == 1 else
                             f"mean {IMAGENET_MEAN} std {IMAGENET_STD}",
            "world_size": str(world),
            "backend": dist.get_backend() if world > 1 else "none",
            "steps": str(step),
            "batch_per_process": str(args.batch_size),
            "lr": str(args.lr),
            "seed": str(args.seed),
            "augment": str(args.augment).lower(),
            "training_seconds": f"{seconds:.1f}",
            "torch": torch.__version__,
        }
        if accuracy is not None:
            metadata["test_accuracy"] = f"{accuracy:.4f}"
        if "sha256" in exported_metadata:
            metadata["source_sha256"] = exported_metadata["sha256"]
        safetensors_io.save(state, args.out, metadata)
        log(rank, f"wrote {args.out} ({len(state)} tensors)")
        if args.logits_input:
            batch, _ = safetensors_io.load(args.logits_input)
            if "input" not in batch:
                sys.exit(f"{args.logits_input}: no tensor named 'input'")
            with torch.no_grad():
                logits = model(batch["input"].to(device)).cpu()
            safetensors_io.save({"logits": logits}, args.logits_out)
            log(rank, f"wrote {args.logits_out} (logits {list(logits.shape)})")
        if args.check_out and test_set is not None:
            count = min(args.check_count, len(test_set))
            x = torch.stack([test_set[i][0] for i in range(count)])
            with torch.no_grad():
                logits = model(((x - mean) / std).to(device)).cpu()
            safetensors_io.save({"logits": logits, "index": torch.arange(count)}, args.check_out,
                                {"what": f"eval logits of the first {count} test images, normalised by finetune.py"})
            log(rank, f"wrote {args.check_out} (logits of {count} test images)")
    if world > 1:
        dist.barrier()  # the others wait for rank 0's file, so the job ends when it is written
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        # Bad files and data are the user's to fix: one line naming them, not a traceback.
        sys.exit(f"finetune.py: error: {e}")

#!/usr/bin/env python3
"""Prints the side-by-side table of bench/compare from the JSON files in a directory:
swift_conv.json, swift_<workload>_<round>.json, torch_<workload>_<round>.json (medians over rounds).
Ratios are speed ratios (PyTorch time / engine time: > 1 means the engine is faster); for peak
memory, PyTorch peak / engine peak (> 1 means the engine uses less). On a machine whose speed drifts,
two more columns help: "paired" is the median over rounds of the ratio within each round (both
sides measured minutes apart), "fastest" compares each side's fastest round (drift only adds time)."""
import glob
import json
import os
import statistics
import sys

out_dir, fallback = sys.argv[1], sys.argv[2]


def load(pattern):
    runs = {}
    def round_number(path):
        stem = os.path.splitext(os.path.basename(path))[0]
        tail = stem.rsplit("_", 1)[-1]
        return (stem.rsplit("_", 1)[0], int(tail) if tail.isdigit() else 0)
    for path in sorted(glob.glob(os.path.join(out_dir, pattern)), key=round_number):
        with open(path) as f:
            data = json.load(f)
        for name, value in data["workloads"].items():
            runs.setdefault(name, []).append(value)
    return runs


def med(values, key):
    xs = [v[key] for v in values if key in v]
    return statistics.median(xs) if xs else None


swift = load("swift_*_*.json")
torch_runs = load("torch_*_*.json")
source = "measured in the same run, interleaved"
if not torch_runs and os.path.exists(fallback):
    with open(fallback) as f:
        torch_runs = {k: [v] for k, v in json.load(f)["workloads"].items()}
    source = "reference figures (" + fallback + "), NOT measured side by side"

print(f"PyTorch column: {source}")
print(f"{'workload':24} {'engine ms':>10} {'torch NCHW':>11} {'torch CL':>10} {'vs best':>8} {'vs NCHW':>8} {'paired':>7} {'fastest':>8}  notes")
for name, values in swift.items():
    ms = med(values, "ms")
    t = torch_runs.get(name, [])
    nchw = med([v["nchw"] for v in t if "nchw" in v], "ms") if t else None
    cl = med([v["channels_last"] for v in t if "channels_last" in v], "ms") if t else None
    notes = ""
    if name.endswith("peak_rss"):
        key = "peak_mb"
        e = med(values, key)
        tn = med([v["nchw"] for v in t], key) if t else None
        tc = med([v["channels_last"] for v in t], key) if t else None
        best = min(x for x in [tn, tc] if x is not None) if (tn or tc) else None
        print(f"{name:24} {e:9.0f}M {tn or 0:10.0f}M {tc or 0:9.0f}M {(best / e if best else 0):8.2f} {(tn / e if tn else 0):8.2f}  peak RSS, MB (ratio: torch / engine)")
        continue
    if name == "feature_extraction":
        notes = f"cached-feature speed-up {med(values, 'speedup'):.1f}x (torch NCHW {med([v['nchw'] for v in t], 'speedup') or 0:.1f}x), acc {med(values, 'naive_accuracy'):.3f}/{med(values, 'cached_accuracy'):.3f}" if t else f"speed-up {med(values, 'speedup'):.1f}x"
        ms = med(values, "naive_s") * 1e3
        nchw = med([v["nchw"] for v in t], "naive_s") * 1e3 if t else None
        cl = med([v["channels_last"] for v in t], "naive_s") * 1e3 if t else None
        notes = "naive loop, total ms; " + notes
    best = min(x for x in [nchw, cl] if x is not None) if (nchw or cl) else None
    vb = f"{best / ms:8.2f}" if best else f"{'-':>8}"
    vn = f"{nchw / ms:8.2f}" if nchw else f"{'-':>8}"
    # Per round: the engine's time and PyTorch's better layout, measured back to back.
    key = "naive_s" if name == "feature_extraction" else "ms"
    pairs = []
    for engine_round, torch_round in zip(values, t):
        layouts = [torch_round[m][key] for m in ("nchw", "channels_last") if key in torch_round.get(m, {})]
        if key in engine_round and layouts:
            pairs.append((engine_round[key], min(layouts)))
    paired = f"{statistics.median(b / e for e, b in pairs):7.2f}" if pairs else f"{'-':>7}"
    fastest = f"{min(b for _, b in pairs) / min(e for e, _ in pairs):8.2f}" if pairs else f"{'-':>8}"
    print(f"{name:24} {ms:10.1f} {nchw or 0:11.1f} {cl or 0:10.1f} {vb} {vn} {paired} {fastest}  {notes}")

conv_path = os.path.join(out_dir, "swift_conv.json")
if os.path.exists(conv_path):
    with open(conv_path) as f:
        conv = json.load(f)
    peak = conv.get("sgemm_gflops", 0)
    core = conv.get("openblas_core") or "OpenBLAS's own choice"
    local = [v["peak_gflops"] for k, v in conv["workloads"].items() if k.startswith("conv ") and "peak_gflops" in v]
    where = (f"measured before each layer: median {statistics.median(local):.0f}, {min(local):.0f}-{max(local):.0f} GFLOP/s"
             if local else f"{peak:.0f} GFLOP/s")
    print(f"\nconv2d per layer (engine), % of the sgemm peak, {where} "
          f"(OpenBLAS's 2048^3 on {conv.get('threads', '?')} threads, {core} kernels)")
    print(f"{'layer':28} {'fwd %':>6} {'dX %':>6} {'dW %':>6}")
    pcts = []
    for name, v in conv["workloads"].items():
        if not name.startswith("conv "):
            continue
        row = [v.get(k + "_pct_peak", 0) for k in ("fwd", "dx", "dw")]
        pcts += row
        print(f"{name[5:]:28} {row[0]:6.0f} {row[1]:6.0f} {row[2]:6.0f}")
    if pcts:
        print(f"{'median':28} {statistics.median(pcts):6.0f}")

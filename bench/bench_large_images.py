"""Large images: the stem's halving (``stem_max_size``) against full resolution, at one budget.

The data: Fashion-MNIST made into 96x96 colour photos. Each image is upscaled (bilinear),
given a random colour and a random dark background, so the classes are the clothes' shapes
at a size where every convolution at full resolution costs (96/28)^2 = 12 times what it
costs on the original. The pool is ``--pool`` class-balanced training images; the test split
is ``--test`` images of the official test set, made the same way, which no search sees.

Two searches run one after the other, as a user runs them (``bench_quality.run_ours``: a
fresh folder, ``automl search --time-budget``), on the same pool:

- **halved**: the default search space, whose stem halves inputs over 56 pixels (96x96
  images reach the stages at 48x48);
- **full resolution**: the same with ``stem_max_size`` set above the image size (a study
  file's ``[space]`` table), as before the stem halved anything.

It prints each exported model's accuracy on the test images, its wall time and its trials,
and the difference in points. Run: ``python bench/bench_large_images.py`` (about two
budgets, 6 minutes by default, on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _common
import numpy as np
from bench_quality import parse_budget, run_ours, training_pool

SIDE = 96


def coloured(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey ``(N, 28, 28)`` images as ``(N, SIDE, SIDE, 3)`` colour ones: a random tint on a
    random dark background."""
    from PIL import Image

    out = np.empty((len(x), SIDE, SIDE, 3), np.uint8)
    tints = rng.uniform(0.4, 1.0, size=(len(x), 3))
    backgrounds = rng.uniform(0, 90, size=(len(x), 3))
    for i, image in enumerate(x):
        big = Image.fromarray(image).resize((SIDE, SIDE), Image.BILINEAR)
        ink = np.asarray(big, np.float32)[..., None] / 255
        out[i] = np.clip(backgrounds[i] * (1 - ink) + 255 * ink * tints[i], 0, 255).astype(np.uint8)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", default="5000", help="training pool size (default 5000)")
    parser.add_argument("--test", type=int, default=2000, help="official test images scored (default 2000)")
    parser.add_argument("--budget", type=parse_budget, default=180.0, help="each search's budget (default 3m)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-large-images")
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y, x_test, y_test = training_pool("fashion_mnist", args.pool, args.seed)
    keep = rng.permutation(len(y_test))[: args.test]
    x, x_test, y_test = coloured(x, rng), coloured(x_test[keep], rng), y_test[keep]
    print(f"pool {len(y)} images {x.shape[1:]}, test {len(y_test)}, budget {args.budget:g}s each\n", flush=True)
    full = args.log_dir / "full_resolution.toml"
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(f"[space]\nstem_max_size = {SIDE}\n")
    variants = {"halved": (), "full resolution": ("--config", str(full))}
    rows, accuracy = [], {}
    for name, options in variants.items():
        log = args.log_dir / f"{name.replace(' ', '_')}.log"
        outcome = run_ours(x, y, x_test, y_test, budget_s=args.budget, seed=args.seed, log=log, options=options)
        accuracy[name] = outcome.accuracy
        rows.append([name, f"{outcome.accuracy:.4f}", f"{outcome.seconds:.1f}", outcome.detail])
        print(f"  {name}: {outcome.accuracy:.4f} in {outcome.seconds:.1f} s; {outcome.detail}; log {log}", flush=True)
    print()
    print(_common.format_table(["stem", "test acc", "wall s", "search"], rows))
    gain = (accuracy["halved"] - accuracy["full resolution"]) * 100
    print(f"halved - full resolution: {gain:+.2f} points")


if __name__ == "__main__":
    main()

"""``automl data inspect``: what a data source holds, how it splits, what augmentation does to it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._tables import render_table
from automl.cli._common import add_parser, parse_seed, parse_size

if TYPE_CHECKING:
    import numpy as np

    from pipelines import AugmentPolicy

_MAX_ROWS = 20  # classes shown in the grid; more would make an unreadable picture
_VIEWS = 7  # augmented views per class, beside the original


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(
        subparsers,
        "data",
        "Look at a data source before searching on it.",
        """
  automl data inspect digits
  automl data inspect ./pets --image-size 64,64 --out pets.png
""",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    inspect = add_parser(
        actions,
        "inspect",
        "Print images per class, shapes, value ranges, split sizes and skipped files, "
        "and write a PNG grid of augmented samples (one row per class).",
        """
  automl data inspect digits                       # the built-in default
  automl data inspect mnist --out mnist.png        # keras.datasets (downloads on first use)
  automl data inspect ./pets --image-size 64,64    # one sub-folder of PNG/JPEG per class
  automl data inspect ./flowers                    # given splits: train/<class>/, test/<class>/ [, val/<class>/]
  automl data inspect ./pets --strict              # fail on a corrupt image instead of skipping it
  automl data inspect data.npz --seed 3            # x_train, y_train [, x_val, y_val] [, x_test, y_test]
  automl data inspect labels.csv --path-column file --label-column class
  automl data inspect digits --policy policy.json  # a policy saved with AugmentPolicy.to_dict()
""",
    )
    inspect.add_argument(
        "source",
        metavar="SOURCE",
        help="digits, mnist, fashion_mnist, cifar10, cifar100, an image folder, a .npz or a .csv file",
    )
    inspect.add_argument(
        "--out",
        type=_grid_path,
        default=Path("augmented.png"),
        help="the grid's file to write (.png, .jpg, .pdf or .svg), or a folder (an existing one, or a path ending "
        "in /) for augmented.png (default: augmented.png)",
    )
    inspect.add_argument("--image-size", type=parse_size, metavar="H,W", help="resize every image to H,W")
    inspect.add_argument("--strict", action="store_true", help="stop at the first unreadable image file")
    inspect.add_argument("--seed", type=parse_seed, default=0, help="seed of the split and the augmented samples")
    inspect.add_argument("--path-column", default="path", help="CSV column of image paths (default: path)")
    inspect.add_argument("--label-column", default="label", help="CSV column of labels (default: label)")
    inspect.add_argument(
        "--policy", type=Path, help="JSON file of an augmentation policy (default: the default policy)"
    )
    inspect.set_defaults(handler=run, uses_keras=True)


# The formats the grid is written in, by the suffix of --out (matplotlib writes each).
_GRID_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".pdf": "pdf", ".svg": "svg"}


def _grid_path(text: str) -> Path:
    """``--out``: a folder (one that exists, or a path ending in a separator) gets
    ``augmented.png``; a file must end in a suffix of ``_GRID_FORMATS``."""
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        return path / "augmented.png"
    if path.suffix.lower() not in _GRID_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a folder nor a file ending in {', '.join(_GRID_FORMATS)}; name the grid's file "
            "or end a new folder's path with /"
        )
    return path


def run(args: argparse.Namespace) -> int:
    from automl._data import flips_line
    from pipelines import AugmentPolicy, load_dataset, mirror_asymmetry, split_dataset

    out = args.out
    policy = _read_policy(args.policy) if args.policy else AugmentPolicy()
    dataset = load_dataset(
        args.source,
        image_size=args.image_size,
        strict=args.strict,
        path_column=args.path_column,
        label_column=args.label_column,
    )
    splits = split_dataset(dataset, seed=args.seed)
    print(_describe(dataset.summary(), dataset.skipped, splits.summary()))
    print(flips_line(mirror_asymmetry(*splits.train)))
    print(f"augmentation: {json.dumps(policy.to_dict())}")
    shown = _write_grid(splits.train, dataset.class_names, policy, args.seed, out)
    print(
        f"wrote {out}: one row per class ({shown} of {dataset.num_classes}), the original then {_VIEWS} augmented views"
    )
    return 0


def _read_policy(path: Path) -> AugmentPolicy:
    from automl._errors import UserError
    from pipelines import AugmentPolicy

    try:
        return AugmentPolicy.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"cannot read the policy file '{path}': {exc}") from exc


def _mapped(value_map: dict[str, float] | None) -> str:
    """How the source's values became pixels, when they were not pixels ("" when they were)."""
    from pipelines import maps_values, value_map_formula

    if value_map is None or not maps_values((value_map["low"], value_map["factor"])):
        return ""
    formula = value_map_formula(value_map["low"], value_map["factor"])
    return f" (mapped from the source's values as {formula})"


def _describe(data: dict[str, Any], skipped: tuple[tuple[str, str], ...], split: dict[str, Any]) -> str:
    """The data set and its split as aligned text."""
    h, w, c = data["input_shape"]
    low, high = data["value_range"]
    given = "".join(
        f" + {data[f'num_{name}_images']} given {label} images"
        for name, label in (("val", "validation"), ("test", "test"))
        if data[f"num_{name}_images"] is not None
    )
    fractions = {
        name: "given" if split[f"{name}_given"] else f"{split[f'{name}_fraction']:.4g}" for name in ("val", "test")
    }
    lines = [
        f"source: {data['source']}",
        f"images: {data['num_images']}{given}; shape {h}x{w}x{c} uint8; values {low}..{high}"
        + _mapped(data["value_map"]),
        *(f"read {conversion}" for conversion in data["conversions"]),
        f"skipped files: {len(skipped)}",
        *(f"  {path}: {reason}" for path, reason in skipped),
        f"split (seed {split['seed']}, val_fraction {fractions['val']}, test_fraction {fractions['test']}): "
        + ", ".join(f"{name} {size}" for name, size in split["sizes"].items()),
    ]
    rows = [
        (name, count, *(split["class_counts"][s][name] for s in ("train", "val", "test")))
        for name, count in data["class_counts"].items()
    ]
    lines.append(render_table(("class", "images", "train", "val", "test"), rows, left=(0,), rule=False))
    return "\n".join(lines)


def _write_grid(
    train: tuple[np.ndarray, np.ndarray], class_names: tuple[str, ...], policy: AugmentPolicy, seed: int, out: Path
) -> int:
    """Draw the augmentation preview and write it atomically to ``out``; returns the rows drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from automl._atomic import write_atomically
    from automl._errors import UserError
    from pipelines import augmentation_preview

    rows = min(len(class_names), _MAX_ROWS)
    grid = augmentation_preview(*train, labels=range(rows), policy=policy, views=_VIEWS, seed=seed)
    fig, axes = plt.subplots(rows, 1 + _VIEWS, figsize=(1.2 * (1 + _VIEWS), 1.2 * rows), squeeze=False)
    for row, name in enumerate(class_names[:rows]):
        for col, ax in enumerate(axes[row]):
            image = grid[row, col]
            ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    axes[0, 0].set_title("original", fontsize=9)
    for col in range(1, 1 + _VIEWS):
        axes[0, col].set_title(f"epoch {col - 1}", fontsize=9)
    fig.tight_layout()
    try:  # a file of the umask's mode (a temporary file's 0600 stayed), named in any error
        write_atomically(out, lambda path: fig.savefig(path, format=_GRID_FORMATS[out.suffix.lower()], dpi=100))
    except OSError as exc:
        raise UserError(f"cannot write the grid to {str(out)!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return rows

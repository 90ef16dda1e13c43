"""The export bundle: a trained model with its model card, and safe loading and prediction.

A bundle directory holds ``model.keras`` (the Keras model), ``saved_model/`` (an
inference-only TensorFlow SavedModel), optionally ``model.onnx``, and the model card as
``model_card.json`` and ``model_card.md``. The exported model is self-contained: it
takes raw images in the 0..255 scale, holds its own ``Normalization`` layer and outputs
softmax probabilities, so predicting only needs to decode and resize the images.

Only inference artifacts leave a study: every model file written here (the bundle's and
the trials' own, through ``save_inference_model``) is an uncompiled copy without optimizer
state or the project's custom loss, so plain Keras loads it without this project.

Every file is written atomically (a temporary name in the same directory, then a
rename), no file is written outside the bundle directory, and models are only loaded
with ``safe_mode=True`` and refused if they contain a ``Lambda`` layer (which can run
arbitrary Python code).

Keras and TensorFlow are imported inside the functions so that importing this module
(for ``write_atomically``) stays cheap.
"""

from __future__ import annotations

import functools
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import pipelines
from automl._atomic import remove_path, write_atomically
from automl._card import render_card_markdown
from automl._inference import inference_batch_size, predict_batches

if TYPE_CHECKING:
    import keras

__all__ = [
    "ExportResult",
    "export_bundle",
    "read_export",
    "check_out_dir",
    "inference_model",
    "load_bundle",
    "load_keras_file",
    "classify_files",
    "predict_files",
    "value_map_of",
    "card_value_map",
    "pixels_from",
    "units_note",
    "in_data_units",
    "INPUT_VALUE_MAP",
    "with_pixel_map",
    "save_inference_model",
]

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
ONNX_FILE = "model.onnx"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
# Present in every bundle: an existing directory holding it may be exported into again.
MARKER_FILE = ".automl-export"
_BUNDLE_NAMES = (KERAS_FILE, SAVED_MODEL_DIR, ONNX_FILE, CARD_JSON, CARD_MD, MARKER_FILE)

# ONNX Runtime must agree with Keras this closely on the probe images, or no model.onnx is written.
ONNX_TOLERANCE = 1e-4
ONNX_OUTPUT = "probabilities"
# Keras names the SavedModel's single output ``output_0`` in its ``serving_default`` signature.
SAVED_MODEL_OUTPUT = "output_0"
_ONNX_PROBES = 4


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """What ``export_bundle`` wrote; ``notes`` say why an optional format was skipped, and
    ``pixels`` that the model takes the training data's values, not pixels, and how it maps
    them (``units_note``; None where the training data were pixels)."""

    out_dir: Path
    keras_path: Path
    saved_model_dir: Path | None
    onnx_path: Path | None
    card_json: Path
    card_md: Path
    notes: tuple[str, ...]
    pixels: str | None = None


def export_bundle(
    model: keras.Model,
    out_dir: str | Path,
    *,
    card: Mapping[str, Any],
    onnx: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    """Write ``model`` and its model card into the bundle directory ``out_dir``.

    Writes ``model.keras`` (uncompiled: see ``inference_model``); ``saved_model/`` via
    ``model.export(format="tf_saved_model")`` on the TensorFlow backend (skipped with a note
    on other backends); ``model.onnx`` when ``onnx=True`` (see below); and the model card as
    ``model_card.json`` and ``model_card.md``, with a ``formats`` section giving each written
    format's loading snippet and input contract. Files of an earlier export that this one
    does not write (e.g. a stale ``model.onnx``) are removed.

    ``model.onnx`` has one input (the raw image batch, dynamic batch dimension) and one
    output (the probabilities). It is checked before it is written: one input and one output,
    and, where ``onnxruntime`` is installed, agreement with Keras within ``ONNX_TOLERANCE``
    on probe images. A missing ``tf2onnx``/``onnx``, a failed conversion or a failed check
    leaves no ``model.onnx``, and a note in ``notes`` and the card's ``export_notes``.

    Args:
        model: the trained, self-contained model (raw 0..255 images in, probabilities out).
        out_dir: the bundle directory; created if missing.
        card: the model card. ``card["class_names"]`` is required (one name per output
            unit); everything else (architecture, preprocessing, metrics, McNemar
            results, versions, data summary, ...) is rendered as given. A ``model``
            section (name, input shape, classes, parameters, layers) is added from the
            model itself.
        onnx: also write ``model.onnx``.
        overwrite: allow exporting into a non-empty directory that is not a bundle.

    Raises:
        ValueError: ``out_dir`` is a file, or a non-empty directory not made by an
            export (without ``overwrite``); a bundle path escapes ``out_dir`` (e.g.
            through a symlink); the model contains a ``Lambda`` layer; the class names
            are missing or do not match the model's outputs.
    """
    _refuse_lambda_layers(model)
    value_map = card_value_map(card)
    model = in_data_units(inference_model(model), value_map)
    full_card = _complete_card(model, card, value_map)
    out = _prepare_out_dir(out_dir, overwrite=overwrite)
    targets = {name: _inside(out, name) for name in _BUNDLE_NAMES}
    write_atomically(targets[MARKER_FILE], lambda p: p.write_text("written by automl export\n"))
    notes: list[str] = []
    keras_path = write_atomically(targets[KERAS_FILE], model.save)
    saved_model_dir = _export_saved_model(model, targets[SAVED_MODEL_DIR], notes)
    onnx_path = _export_onnx(model, targets[ONNX_FILE], notes) if onnx else None
    full_card["formats"] = _formats_section(
        model, saved_model=saved_model_dir is not None, onnx=onnx_path is not None, value_map=value_map
    )
    full_card["export_notes"] = list(notes)
    text = json.dumps(full_card, indent=2)
    card_json = write_atomically(targets[CARD_JSON], lambda p: p.write_text(text + "\n", encoding="utf-8"))
    markdown = render_card_markdown(full_card, file_names=_BUNDLE_NAMES)
    card_md = write_atomically(targets[CARD_MD], lambda p: p.write_text(markdown, encoding="utf-8"))
    _remove_stale(targets, keep={saved_model_dir, onnx_path})
    return ExportResult(
        out_dir=out,
        keras_path=keras_path,
        saved_model_dir=saved_model_dir,
        onnx_path=onnx_path,
        card_json=card_json,
        card_md=card_md,
        notes=tuple(notes),
        pixels=units_note(value_map, digits=6),
    )


def inference_model(model: keras.Model) -> keras.Model:
    """An uncompiled model computing what ``model`` does: a functional model sharing its layers,
    or (a Sequential model never built symbolically) a copy with its weights.

    A trained model carries its compile configuration (the optimizer with its state and the
    loss, often this project's ``automl>SmoothedSparseCrossentropy``), and saving it writes
    them too; plain Keras then cannot load the file. The copy computes exactly the same
    function without any of that. A model that was never compiled is returned as it is.

    Raises:
        ValueError: ``model`` is compiled and has no graph of layers to rebuild (a
            subclassed model that was never called on a symbolic input).
    """
    import keras

    if not model.compiled:
        return model
    try:
        return keras.Model(model.input, model.output, name=model.name)
    except (AttributeError, ValueError):
        pass  # a Sequential model whose graph was never built symbolically: copy it instead
    try:
        copy = keras.models.clone_model(model)
    except (AttributeError, ValueError, TypeError) as exc:
        raise ValueError(
            f"cannot make an inference copy of model {model.name!r} ({type(model).__name__}): {exc}; "
            "export a functional or sequential model"
        ) from None
    copy.set_weights(model.get_weights())
    return copy


def save_inference_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``inference_model(model)`` to ``path`` (a ``.keras`` file), atomically; returns the path.

    This is how a trained model leaves a study: the file loads with plain
    ``keras.saving.load_model(path)``, without this project's packages.
    """
    return write_atomically(Path(path), inference_model(model).save)


def load_keras_file(keras_path: str | Path) -> keras.Model:
    """Load a ``.keras`` file as ``load_bundle`` loads a bundle's: ``safe_mode=True``, not
    compiled, refused if it holds a ``Lambda`` layer.

    Raises:
        ValueError: the model contains a ``Lambda`` layer, or the file is corrupt or truncated.
    """
    import keras

    _refuse_lambda_config(Path(keras_path))
    try:
        model = keras.saving.load_model(keras_path, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot load the model {str(keras_path)!r}: {' '.join(str(exc).split())[:300]}") from None
    _refuse_lambda_layers(model)
    return model


def read_export(out_dir: str | Path) -> tuple[ExportResult, dict[str, Any]] | None:
    """The bundle ``export_bundle`` wrote in ``out_dir`` earlier, and its model card; None
    where ``out_dir`` holds no complete bundle."""
    out = Path(out_dir).resolve()
    if not all((out / name).is_file() for name in (MARKER_FILE, KERAS_FILE, CARD_JSON)):
        return None
    card = json.loads((out / CARD_JSON).read_text(encoding="utf-8"))
    saved_model, onnx = out / SAVED_MODEL_DIR, out / ONNX_FILE
    result = ExportResult(
        out_dir=out,
        keras_path=out / KERAS_FILE,
        saved_model_dir=saved_model if saved_model.is_dir() else None,
        onnx_path=onnx if onnx.is_file() else None,
        card_json=out / CARD_JSON,
        card_md=out / CARD_MD,
        notes=tuple(card.get("export_notes", ())),
    )
    return result, card


def load_bundle(bundle_dir: str | Path) -> tuple[keras.Model, dict[str, Any]]:
    """Load the model (``safe_mode=True``, not compiled) and the model card of a bundle.

    A ``Lambda`` layer is refused three times over: by scanning the saved configuration
    before anything is deserialised (so the error names the layer), by Keras' safe mode
    (which refuses Python lambdas), and by walking every nested layer of the loaded model.

    Raises:
        FileNotFoundError: ``bundle_dir`` does not exist, is a file, or lacks ``model.keras``
            or ``model_card.json``.
        ValueError: the model contains a ``Lambda`` layer, or a file of the bundle is corrupt,
            truncated or incomplete (the message names it).
    """
    bundle = Path(bundle_dir)
    if not bundle.exists():
        raise FileNotFoundError(f"no export bundle at {str(bundle)!r}: it does not exist")
    if bundle.is_file():  # its model.keras, named instead of the folder that holds it
        raise FileNotFoundError(
            f"{str(bundle)!r} is a file, not an export bundle: give its folder ({str(bundle.parent)!r})"
        )
    keras_path, card_path = bundle / KERAS_FILE, bundle / CARD_JSON
    for path in (keras_path, card_path):
        if not path.is_file():
            raise FileNotFoundError(f"{str(bundle)!r} is not an export bundle: {path.name} is missing")
    card = _read_card(card_path)
    return load_keras_file(keras_path), card


def _read_card(card_path: Path) -> dict[str, Any]:
    """The model card, or a ``ValueError`` naming the file and what is wrong with it."""
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the model card {str(card_path)!r} is not valid JSON: {exc}") from None
    names = card.get("class_names") if isinstance(card, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"the model card {str(card_path)!r} has no list of class_names")
    return card


def predict_files(bundle_dir: str | Path, files: str | Path | Sequence[str | Path]) -> list[dict[str, Any]]:
    """Classify image files with a bundle; one ``{"file", "class", "index", "probability"}`` each.

    A folder among ``files`` stands for the image files at any depth below it, sorted (as
    an image folder is read: hidden files and other suffixes are left out). Each image is
    decoded, resized to the model's input height and width and converted to its channels
    (1: grayscale, 3: RGB) by ``pipelines.load_image``; the model does its own
    normalisation. When the training data's values were not pixels (the card's
    ``data.summary.value_map``), a 16-bit or float file's values are mapped as theirs were;
    8-bit files are pixels; and where the model takes the training data's values
    (``INPUT_VALUE_MAP``), the pixels are mapped back to them. Every file's header is read
    before any prediction, so a missing file or one that is not an image fails fast; the
    images are then decoded and classified ``PREDICT_CHUNK`` at a time. A file found in a
    folder that cannot be read is skipped instead (as a search skips it): its row is
    ``{"file", "error"}``.

    Raises:
        pipelines.DataError: a file is missing, corrupt or not an image, or a folder holds
            no image (names it).
        FileNotFoundError, ValueError: see ``load_bundle``.
    """
    if isinstance(files, str | os.PathLike):  # one file or folder, named alone
        files = [files]
    model, card = load_bundle(bundle_dir)
    units = value_map_of(card.get(INPUT_VALUE_MAP))  # None: the model takes pixels (an older bundle too)
    return classify_files(model, list(card["class_names"]), files, value_map=card_value_map(card), units=units)


def card_value_map(card: Mapping[str, Any]) -> tuple[float, float] | None:
    """The training data's ``value_map`` as a model card records it (``data.summary``)."""
    summary = (card.get("data") or {}).get("summary") or {}
    return value_map_of(summary.get("value_map"))


def value_map_of(recorded: object) -> tuple[float, float] | None:
    """A ``Dataset.value_map`` as a card or a logged model's metadata records it
    (``{"low": ..., "factor": ...}``, or nothing: the data were pixels)."""
    if not isinstance(recorded, dict):
        return None
    return float(recorded["low"]), float(recorded["factor"])


def _formula(value_map: tuple[float, float] | None, digits: int) -> str | None:
    """``value_map`` as its formula, or None where the training data were pixels (``pipelines.maps_values``)."""
    if value_map is None or not pipelines.maps_values(value_map):
        return None
    return pipelines.value_map_formula(*value_map, digits=digits)


def pixels_from(value_map: tuple[float, float] | None, digits: int = 17) -> str | None:
    """How to map values like the training data's to the raw pixels a logged MLflow model
    takes, or None where the training data were pixels."""
    formula = _formula(value_map, digits)
    return None if formula is None else f"the training data's values were not pixels: map yours to pixels as {formula}"


# The card's key for the value map inside an exported model that takes the training data's
# values (``in_data_units``); absent where it takes pixels, as every bundle did before.
INPUT_VALUE_MAP = "input_value_map"


def in_data_units(model: keras.Model, value_map: tuple[float, float] | None) -> keras.Model:
    """``model`` (which takes pixels) taking the training data's values instead, where they were
    not pixels (``pipelines.maps_values``): they become pixels inside it as in training,
    ``(value - low) * factor`` clipped to 0..255. Fed the values it was trained on (floats in
    0..1, standardized or 16-bit arrays), the model that took pixels scored at chance, silently."""
    if value_map is None or not pipelines.maps_values(value_map):
        return model
    import keras

    low, factor = value_map
    inputs = keras.Input(shape=model.input_shape[1:], name="values")
    pixels = keras.layers.Rescaling(scale=factor, offset=-low * factor, name="value_map")(inputs)
    pixels = keras.layers.ReLU(max_value=255.0, name="pixel_range")(pixels)
    return keras.Model(inputs, model(pixels), name=model.name)


def _as_values(pixels: np.ndarray, units: tuple[float, float] | None) -> np.ndarray:
    """Pixels as the values a model that takes the training data's values (``units``) is fed."""
    if units is None:
        return pixels
    low, factor = units
    return pixels.astype(np.float32) / np.float32(factor) + np.float32(low)


def units_note(value_map: tuple[float, float] | None, digits: int = 17) -> str | None:
    """What an exported model takes where the training data's values were not pixels: those
    values, as given (None where they were pixels)."""
    formula = _formula(value_map, digits)
    if formula is None:
        return None
    return (
        f"the training data's values, as given (not pixels): the model maps them to pixels as {formula}, "
        "clipped to 0..255"
    )


def with_pixel_map(contract: str, value_map: tuple[float, float] | None) -> str:
    """An input ``contract``, followed by how to map values to pixels where the training
    data's were not pixels (``pixels_from``)."""
    mapping = pixels_from(value_map)
    return f"{contract}; {mapping}" if mapping else contract


PREDICT_CHUNK = 256
"""Images decoded and classified at a time, so that a folder of large photos need not fit in memory."""


def classify_files(
    model: keras.Model,
    class_names: Sequence[str],
    files: Sequence[str | Path],
    *,
    value_map: tuple[float, float] | None = None,
    units: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """Classify image files and folders with ``model`` (raw images in, probabilities out), as
    ``predict_files`` does; ``value_map`` is the training data's (``pipelines.load_image``),
    and ``units`` the map inside a model that takes the training data's values
    (``in_data_units``; None: it takes pixels), which the pixels read are mapped back by.

    A file named alone that cannot be read fails (``pipelines.DataError``). One found in a
    folder is skipped, as a search skips it, and its row is ``{"file", "error"}``.

    Raises:
        ValueError: ``class_names`` do not name the model's outputs one by one.
    """
    height, width, channels = model.input_shape[1:]
    outputs = int(model.output_shape[-1])
    if len(class_names) != outputs:
        raise ValueError(
            f"the model outputs {outputs} classes but {len(class_names)} class names come with it "
            f"({list(class_names)[:10]}): its card or metadata does not belong to it"
        )
    paths, in_folders = _image_paths(files)
    errors: dict[str, str] = {}
    for path in paths:  # every header first: a missing or foreign file fails before any work
        _read_or_skip(pipelines.probe_image, path, in_folders, errors)
    readable = [path for path in paths if str(path) not in errors]
    # A chunk is one batch, of no more images than there are: padded to a full inference
    # batch (1,024 small images), one file cost a thousand images' work.
    batch_size = min(PREDICT_CHUNK, inference_batch_size(1, (height, width, channels)), len(readable))
    load = functools.partial(pipelines.load_image, image_size=(height, width), channels=channels, value_map=value_map)
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(readable), PREDICT_CHUNK):
        loaded = {
            str(path): _read_or_skip(load, path, in_folders, errors) for path in readable[start : start + PREDICT_CHUNK]
        }
        chunk = {path: image for path, image in loaded.items() if image is not None}
        if not chunk:
            continue
        probabilities = predict_batches(model, _as_values(np.stack(list(chunk.values())), units), batch_size)
        for path, i, row in zip(chunk, probabilities.argmax(axis=1), probabilities, strict=True):
            rows[path] = {"file": path, "class": class_names[i], "index": int(i), "probability": float(row[i])}
    return [rows.get(str(path)) or {"file": str(path), "error": errors[str(path)]} for path in paths]


def _image_paths(files: Sequence[str | Path]) -> tuple[list[str | os.PathLike[str]], set[str]]:
    """``pipelines.image_paths(files)``, each once (the first time it is met), and those of
    them only found in a folder: a file also named alone is read as one named alone."""
    paths: dict[str, str | os.PathLike[str]] = {}
    in_folders: set[str] = set()
    alone: set[str] = set()
    for given in files:
        found = pipelines.image_paths([given])
        paths.update((str(path), path) for path in found if str(path) not in paths)
        (in_folders if Path(given).is_dir() else alone).update(str(path) for path in found)
    return list(paths.values()), in_folders - alone


def _read_or_skip(
    read: Callable[[Any], Any], path: str | os.PathLike[str], in_folders: set[str], errors: dict[str, str]
) -> Any:
    """``read(path)``; where it fails for a file found in a folder, None and why in ``errors``."""
    try:
        return read(path)
    except pipelines.DataError as exc:
        if str(path) not in in_folders:
            raise
        errors[str(path)] = str(exc)
        return None


# --- export helpers -----------------------------------------------------------------------


def check_out_dir(out_dir: str | Path, *, overwrite: bool = False, study: str | None = None) -> Path:
    """``out_dir`` resolved, if ``export_bundle`` may write there: a new or empty folder, or
    one an export made (unless ``overwrite``), of ``study`` where that is given.

    Raises:
        ValueError: a file, a folder holding other files, or another study's bundle, quoting it.
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"export directory {str(out_dir)!r} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_FILE).is_file() and not overwrite:
        raise ValueError(
            f"refusing to export into {str(out_dir)!r}: it is a non-empty directory not made by "
            f"'automl export'; {_CHOOSE_ANOTHER}"
        )
    found = read_export(out) if study is not None and not overwrite else None
    if found is not None and found[1].get("study") not in (None, study):
        raise ValueError(
            f"refusing to export study {study!r} into {str(out_dir)!r}: it holds study {found[1]['study']!r}'s "
            f"model (trial {found[1].get('trial')}); {_CHOOSE_ANOTHER}, or delete that one first"
        )
    return out


_CHOOSE_ANOTHER = "choose an empty or new directory (automl search --export-dir, automl export --out)"


def _prepare_out_dir(out_dir: str | Path, *, overwrite: bool) -> Path:
    out = check_out_dir(out_dir, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _inside(out: Path, name: str) -> Path:
    """``out / name``, refused if it resolves outside ``out`` (e.g. a symlink pointing away)."""
    target = out / name
    resolved = target.resolve()
    if not resolved.is_relative_to(out):
        raise ValueError(f"refusing to write {str(target)!r}: it resolves to {str(resolved)!r}, outside {str(out)!r}")
    return target


def _export_saved_model(model: keras.Model, target: Path, notes: list[str]) -> Path | None:
    import keras

    if keras.backend.backend() != "tensorflow":
        notes.append(
            f"SavedModel skipped: it needs the TensorFlow backend, not {keras.backend.backend()!r}"
            " ('automl export' under the TensorFlow backend writes it from the same study)."
        )
        return None
    return write_atomically(target, lambda p: model.export(p, format="tf_saved_model", verbose=False))


def _export_onnx(model: keras.Model, target: Path, notes: list[str]) -> Path | None:
    """Convert, check, then write ``model.onnx``; on any failure a note and no file."""
    import keras

    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        notes.append(f"ONNX skipped: {exc.name or 'onnx'} is not installed (pip install 'cnn-automl[onnx]').")
        return None
    if keras.backend.backend() != "tensorflow":
        notes.append(f"ONNX skipped: it is converted from TensorFlow, not {keras.backend.backend()!r}.")
        return None
    try:
        proto = _onnx_proto(model)
        _check_onnx(proto, model, notes)
    # The converter fails in many ways (unsupported ops, dtypes, shapes); any of them only
    # costs this optional format, and the note says which.
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        notes.append(f"ONNX skipped: the export failed ({type(exc).__name__}: {first_line}); no model.onnx written.")
        return None
    return write_atomically(target, lambda p: p.write_bytes(proto.SerializeToString()))


def _onnx_proto(model: keras.Model) -> Any:
    """The model as an ONNX graph: one input named like the Keras input, one output ``probabilities``.

    Keras' own ``model.export(format="onnx")`` hands ``tf2onnx`` a function whose captured
    constants (e.g. the mean and variance of a ``Normalization`` layer) become extra graph
    inputs, so ONNX Runtime cannot run it with the image alone. Freezing the function first
    turns every capture, weights included, into a constant of the graph.
    """
    import tensorflow as tf
    import tf2onnx

    # TensorFlow 2 has no public freezing API; tf2onnx itself uses this function.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    name = _input_name(model)
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=name)
    function = tf.function(lambda images: model(images, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(spec))
    inputs, outputs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"the frozen graph must have one input and one output, got {inputs} and {outputs}")
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        name=model.name,
        input_names=inputs,
        output_names=outputs,
        tensors_to_rename={inputs[0]: name, outputs[0]: ONNX_OUTPUT},
    )
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def _check_onnx(proto: Any, model: keras.Model, notes: list[str]) -> None:
    """Raise ``ValueError`` unless ``proto`` has one input and one output and ONNX Runtime agrees with Keras."""
    import onnx

    onnx.checker.check_model(proto)
    inputs, outputs = [v.name for v in proto.graph.input], [v.name for v in proto.graph.output]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"the ONNX graph must have one input and one output, got inputs {inputs} and outputs {outputs}"
        )
    try:
        import onnxruntime
    except ImportError:
        notes.append("ONNX not checked against Keras: onnxruntime is not installed (pip install 'cnn-automl[onnx]').")
        return
    # Random raw-scale images, as many as to exercise a batch dimension other than 1.
    images = np.random.default_rng(0).uniform(0, 255, (_ONNX_PROBES, *model.input_shape[1:])).astype("float32")
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {inputs[0]: images})[0]
    expected = np.asarray(model(images, training=False))
    difference = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else np.inf
    if not difference <= ONNX_TOLERANCE:
        raise ValueError(
            f"ONNX Runtime disagrees with Keras on {_ONNX_PROBES} probe images: max abs difference {difference:.3g} "
            f"> {ONNX_TOLERANCE} (output shapes {got.shape} and {expected.shape})"
        )


def _input_name(model: keras.Model) -> str:
    names = [tensor.name for tensor in model.inputs]
    if len(names) != 1:
        raise ValueError(f"an exported model takes one image input, got {len(names)}: {names}")
    return names[0]


def _formats_section(
    model: keras.Model, *, saved_model: bool, onnx: bool, value_map: tuple[float, float] | None
) -> dict[str, Any]:
    """The card's ``formats`` section: the input contract, and each written file with its
    loading snippet; both say that the model takes the training data's values where they were
    not pixels (``value_map``, ``in_data_units``)."""
    import keras

    height, width, channels = model.input_shape[1:]
    name = _input_name(model)
    shape = f"(batch, {height}, {width}, {channels})"
    units = units_note(value_map)
    values = (
        f"values as the training data's, as float32 ({units})" if units else "raw pixel values in 0..255 as float32"
    )
    images = f"images: float32 numpy array {shape}, " + ("the training data's values" if units else "raw 0..255 pixels")
    formats: dict[str, Any] = {
        "files": "paths relative to the bundle directory",
        "input": (
            f"{values}, shape {shape} = (batch, H, W, C), channels last; "
            f"resize to {height}x{width} first, do not normalise (the model does)"
        ),
        "output": f"float32 softmax probabilities, shape (batch, {int(model.output_shape[-1])}), in class_names order",
        KERAS_FILE: {
            "format": "Keras 3",
            "needs": f"keras=={keras.__version__} with any backend; no custom objects",
            "load": (
                "import keras\n"
                f'model = keras.saving.load_model("{KERAS_FILE}")\n'
                f"probabilities = model.predict(images)  # {images}"
            ),
        },
    }
    if saved_model:
        formats[SAVED_MODEL_DIR] = {
            "format": "TensorFlow SavedModel (a directory)",
            "needs": "tensorflow, or TensorFlow Serving (see the README)",
            "signature": f"serving_default: input {name!r} float32 {shape}, output {SAVED_MODEL_OUTPUT!r}",
            "load": (
                "import tensorflow as tf\n"
                f'loaded = tf.saved_model.load("{SAVED_MODEL_DIR}")\n'
                f"probabilities = loaded.serve(tf.constant(images, tf.float32))  # {images}"
            ),
            "cli": (
                f"saved_model_cli run --dir {SAVED_MODEL_DIR} --tag_set serve --signature_def serving_default "
                f"--inputs {name}=images.npy"
            ),
        }
    if onnx:
        formats[ONNX_FILE] = {
            "format": "ONNX",
            "needs": "onnxruntime",
            "signature": f"input {name!r} float32 {shape}, output {ONNX_OUTPUT!r}",
            "load": (
                "import onnxruntime as ort\n"
                f'session = ort.InferenceSession("{ONNX_FILE}", providers=["CPUExecutionProvider"])\n'
                f'probabilities = session.run(None, {{"{name}": images}})[0]  # {images}'
            ),
        }
    return formats


def _complete_card(
    model: keras.Model, card: Mapping[str, Any], value_map: tuple[float, float] | None
) -> dict[str, Any]:
    """The card as plain JSON types, with a ``model`` section taken from the model itself, and
    the value map inside it where it takes the training data's values (``INPUT_VALUE_MAP``)."""
    num_classes = int(model.output_shape[-1])
    class_names = card.get("class_names")
    if (
        not isinstance(class_names, Sequence)
        or isinstance(class_names, str)
        or not all(isinstance(n, str) for n in class_names)
    ):
        raise ValueError(f"card['class_names'] must be a list of strings, got {class_names!r}")
    if len(class_names) != num_classes:
        raise ValueError(
            f"card['class_names'] has {len(class_names)} names but the model outputs {num_classes} classes: "
            f"{list(class_names)!r}"
        )
    summary = {
        "name": model.name,
        "input_shape": list(model.input_shape[1:]),
        "input": (units_note(value_map) or "raw images, float32 in the 0..255 scale")
        + ", shape (height, width, channels)",
        "output": f"softmax probabilities over {num_classes} classes",
        "num_classes": num_classes,
        "params": int(model.count_params()),
        "layers": [f"{layer.name} ({type(layer).__name__})" for layer in model.layers],
    }
    units = {}
    if value_map is not None and pipelines.maps_values(value_map):
        units = {INPUT_VALUE_MAP: dict(zip(("low", "factor"), value_map, strict=True))}
    return json.loads(json.dumps({"model": summary, **card, **units}, default=_to_json))


def _to_json(value: Any) -> Any:
    """``json.dumps`` fallback for numpy values, paths and objects with ``to_dict``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if callable(getattr(value, "to_dict", None)):
        return value.to_dict()
    raise TypeError(f"model card value of type {type(value).__name__} is not JSON serialisable: {value!r}")


def _remove_stale(targets: Mapping[str, Path], keep: set[Path | None]) -> None:
    for name in (SAVED_MODEL_DIR, ONNX_FILE):
        if targets[name] not in keep:
            remove_path(targets[name])


# --- safe loading -------------------------------------------------------------------------


def _refuse_lambda_layers(model: keras.Model) -> None:
    """Raise ``ValueError`` naming every ``Lambda`` layer anywhere inside ``model``."""
    import keras

    # ``_flatten_layers`` also reaches sub-layers held as attributes of custom layers,
    # which walking the public ``.layers`` lists would miss.
    names = [
        layer.name
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.Lambda)
    ]
    if names:
        raise ValueError(_lambda_message(model.name, names))


def _refuse_lambda_config(keras_path: Path) -> None:
    """Scan the saved configuration of a ``.keras`` archive for ``Lambda`` layers."""
    try:
        with zipfile.ZipFile(keras_path) as archive:
            config = json.loads(archive.read("config.json"))
    except zipfile.BadZipFile:
        raise ValueError(f"{str(keras_path)!r} is not a Keras model file (not a .keras zip archive)") from None
    except KeyError:
        raise ValueError(f"{str(keras_path)!r} is an incomplete Keras model file: it has no config.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(keras_path)!r} holds an unreadable config.json: {exc}") from None
    names = _lambda_names(config)
    if names:
        raise ValueError(_lambda_message(str(keras_path), names))


def _lambda_names(node: Any) -> list[str]:
    if isinstance(node, list):
        return [name for item in node for name in _lambda_names(item)]
    if not isinstance(node, dict):
        return []
    own = [str(node.get("config", {}).get("name", "?"))] if node.get("class_name") == "Lambda" else []
    return own + [name for value in node.values() for name in _lambda_names(value)]


def _lambda_message(where: str, names: list[str]) -> str:
    return (
        f"refusing model {where!r}: it contains Lambda layer(s) {names}, which can run arbitrary "
        "Python code; rebuild it with serialisable layers"
    )

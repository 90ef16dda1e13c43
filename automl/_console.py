"""A quiet console: TensorFlow's start-up lines and library chatter are hidden unless asked for.

TensorFlow's C++ runtime writes its start-up lines (oneDNN, ``cudart_stub``, ``absl``)
straight to the process's standard error while it is imported, before any log level
applies; later lines (such as ``cuInit`` failing on a machine without a GPU) obey
``TF_CPP_MIN_LOG_LEVEL``. So the backend is imported with file descriptor 2 pointed at a
temporary file, whose text is shown only if the import fails, and the level is set first.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile

from automl._backends import check_backend_env

__all__ = ["quiet_console", "import_keras_quietly"]


def quiet_console(*, verbose: bool) -> None:
    """Set the environment of a quiet (or, with ``verbose``, a talkative) process.

    Child processes (workers) inherit it. Call before Keras or TensorFlow is imported.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network at import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    # MLflow draws a progress bar for every model it downloads (compare, export, predict).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true" if verbose else "false")
    if not verbose:
        # TensorFlow's Python logger repeats retracing warnings when several models predict.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)


def import_keras_quietly(*, verbose: bool) -> None:
    """Import Keras (and its backend) with the native start-up lines hidden unless ``verbose``.

    Under another backend, TensorFlow is imported with it where it is installed: Keras imports
    it anyway, later (``keras.utils.set_random_seed`` seeds it, the SavedModel export uses
    it), and its start-up lines would then appear in the middle of a search's output.

    Raises:
        UserError: ``KERAS_BACKEND`` names a backend this tool does not run on.
    """
    if "keras" not in sys.modules:
        check_backend_env()
    if verbose or "keras" in sys.modules:
        import keras  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras

            if keras.backend.backend() != "tensorflow" and importlib.util.find_spec("tensorflow") is not None:
                import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)

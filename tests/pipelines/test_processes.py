"""Augmentation in worker processes: the same images as in threads, a clear error when a
worker dies, and no second run of the user's script."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from pipelines import AugmentPolicy, DataError
from pipelines import _processes as processes_module
from pipelines._augment import augment_example
from pipelines._processes import _pool, augment_in_processes, shutdown_pools

pytestmark = pytest.mark.usefixtures("albumentations_warnings_are_errors")


@pytest.fixture(autouse=True)
def _fresh_pools():
    shutdown_pools()
    yield
    shutdown_pools()


def _batch() -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(1).integers(0, 256, size=(6, 9, 9, 3), dtype=np.uint8)
    return images, np.arange(10, 16)


def test_a_batch_comes_back_as_each_image_augmented_from_its_own_stream() -> None:
    policy = AugmentPolicy(hflip_p=0.5, dropout_p=0.5)
    images, indices = _batch()
    got = augment_in_processes(2, policy, images.copy(), indices, seed=5, epoch=1)
    pipeline = policy.build()
    expected = [
        augment_example(pipeline, img.copy(), seed=5, epoch=1, index=int(i))
        for img, i in zip(images, indices, strict=True)
    ]
    np.testing.assert_array_equal(got, np.stack(expected))
    assert not np.array_equal(got, images)


def test_workers_import_this_pipelines_not_one_in_the_current_folder(tmp_path, monkeypatch) -> None:
    # A search run from a project with a pipelines.py of its own: every worker imported it,
    # died, and the error blamed the host's memory.
    (tmp_path / "pipelines.py").write_text("raise SystemExit('the user's own pipelines module')\n")
    monkeypatch.chdir(tmp_path)
    images, indices = _batch()
    flip = dataclasses.replace(AugmentPolicy.none(), hflip_p=1.0)
    got = augment_in_processes(2, flip, images.copy(), indices, seed=0, epoch=0)
    np.testing.assert_array_equal(got, images[:, :, ::-1])


def test_a_dead_worker_is_a_clear_error_and_is_replaced() -> None:
    policy = AugmentPolicy()
    images, indices = _batch()
    augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    worker = _pool(1)._workers[0]
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    with pytest.raises(DataError, match="augmentation process died"):
        augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    again = augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    assert again.shape == images.shape


def test_a_batch_interrupted_mid_call_leaves_the_pool_whole(monkeypatch) -> None:
    policy = AugmentPolicy(hflip_p=0.5)
    images, indices = _batch()
    expected = augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    real_load = processes_module.pickle.load

    def interrupted(stream):  # Ctrl-C while the answer is on its way: the pipe still holds it
        monkeypatch.setattr(processes_module.pickle, "load", real_load)
        raise KeyboardInterrupt

    monkeypatch.setattr(processes_module.pickle, "load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)

    done: list[np.ndarray] = []
    again = threading.Thread(
        target=lambda: done.append(augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)),
        daemon=True,
    )
    again.start()
    again.join(timeout=60)
    assert done, "the next batch waited for the worker the interruption took"
    np.testing.assert_array_equal(done[0], expected)  # not the answer left in the old worker's pipe


def test_workers_do_not_run_the_users_script_again(tmp_path: Path) -> None:
    """A script without ``if __name__ == "__main__"`` runs once: workers never import it."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(f"""
        import numpy as np
        from pipelines import AugmentPolicy, Feeder
        with open({str(marker)!r}, "a") as f:
            f.write("ran\\n")
        x = np.zeros((8, 6, 6, 1), dtype=np.uint8)
        feeder = Feeder(x, np.zeros(8, dtype=np.int64), batch_size=4, normalization=None,
                        policy=AugmentPolicy(), seed=0, processes=2)
        print(feeder[0][0].shape, feeder[1][0].shape)
        """)
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "(4, 6, 6, 1) (4, 6, 6, 1)" in result.stdout
    assert marker.read_text() == "ran\n"


def test_a_worker_whose_parent_is_gone_exits_quietly() -> None:
    # Its answer to a parent killed mid-batch (SIGKILL) printed a BrokenPipeError traceback
    # into the user's terminal.
    images, indices = _batch()
    request = (AugmentPolicy(hflip_p=0.5), images, indices, 5, 1)
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipelines._augment_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    worker.stdout.close()  # nobody reads its answers any more
    worker.stdin.write(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
    worker.stdin.close()
    assert worker.wait(timeout=120) == 0
    assert worker.stderr.read().decode() == ""

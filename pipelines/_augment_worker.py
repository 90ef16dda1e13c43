"""A worker process of ``pipelines._processes``: ``python -m pipelines._augment_worker``.

Reads pickled requests ``(policy, images, indices, seed, epoch)`` from stdin and answers
each with a pickled ``(True, augmented images)``, or ``(False, reason)`` when augmenting
failed. Exits at the end of its input, or quietly when its parent is gone; ignores Ctrl-C,
which the parent handles.
"""

from __future__ import annotations

import pickle
import signal
import sys

from pipelines._augment import AugmentPolicy, augment_batch


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    built: tuple[AugmentPolicy, object] | None = None  # the last policy and its pipeline
    while True:
        try:
            policy, images, indices, seed, epoch = pickle.load(requests)
        except EOFError:
            return
        try:
            if built is None or built[0] != policy:
                built = (policy, policy.build())
            answer: tuple[bool, object] = (True, augment_batch(built[1], images, indices, seed=seed, epoch=epoch))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            answer = (False, f"{type(exc).__name__}: {exc}")
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the parent is gone (killed): nobody reads the answer
            return


if __name__ == "__main__":
    main()

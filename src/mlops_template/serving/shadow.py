"""Shadow scoring: a challenger model scored off the request path, in a bounded background queue.

The service answers every request with the champion, then hands the request's records (or its feature
matrix) to :meth:`ShadowScorer.submit`, which only enqueues (``put_nowait``). One daemon thread drains the
queue, scores what it took in one matrix call (amortising the per-call overhead) and writes the challenger's
prediction-log lines (``role: challenger``, the champion's ``request_id`` and ids). When the queue is full the
work is dropped and counted (``dropped``): the champion's latency never waits for the challenger.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_template.serving.predictor import Predictor, decide
from mlops_template.serving.predlog import CHALLENGER, log_lines

MAX_DRAIN = 64  # requests scored together by one matrix call of the worker


@dataclass(frozen=True)
class ShadowWork:
    endpoint: str
    request_id: str
    ids: list[Any]
    champion_labels: list[Any]
    records: Sequence[dict[str, Any]] | None = None  # validated records, or ...
    matrix: np.ndarray | None = None  # ... the champion's feature matrix (same features only)


class ShadowScorer:
    """The challenger, its bounded queue and its counters (queued, scored, dropped, failed, agreement)."""

    def __init__(
        self,
        predictor: Predictor,
        version: str,
        threshold: float,
        maxsize: int,
        write: Callable[[str], None] | None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.predictor, self.version, self.threshold = predictor, version, threshold
        self.write, self.on_drop = write, on_drop
        self.maxsize = maxsize
        self.queue: queue.Queue[ShadowWork | None] = queue.Queue(maxsize=maxsize)
        self.submitted = self.dropped = self.scored = self.failed = self.agreed = 0
        self._thread = threading.Thread(target=self._run, name="shadow-challenger", daemon=True)
        self._thread.start()

    def submit(self, work: ShadowWork) -> bool:
        """Enqueue without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(work)
        except queue.Full:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return False
        self.submitted += 1
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after the queued work (tests)."""
        self.queue.put(None)
        self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        return {
            "model_version": self.version,
            "queue_size": self.maxsize,
            "queued": self.queue.qsize(),
            "submitted": self.submitted,
            "scored": self.scored,
            "dropped": self.dropped,
            "failed": self.failed,
            "agreement": self.agreed / self.scored if self.scored else None,
        }

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_DRAIN:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._score(batch)
                    return
                batch.append(item)
            self._score(batch)

    def _matrix(self, work: ShadowWork) -> np.ndarray:
        if work.matrix is not None:
            return work.matrix
        assert work.records is not None
        return self.predictor.matrix(work.records)

    def _score(self, batch: list[ShadowWork]) -> None:
        try:
            matrices = [self._matrix(w) for w in batch]
            x = matrices[0] if len(matrices) == 1 else np.vstack(matrices)
            p = self.predictor
            labels, scores, _ = decide(p, p.proba_matrix(x) if p.is_classifier else p.predict_matrix(x), self.threshold)
        except Exception:  # a challenger that cannot score this traffic: counted, never raised
            self.failed += sum(len(w.ids) for w in batch)
            return
        start, text = 0, []
        for work in batch:
            n = len(work.ids)
            mine, mine_scores = labels[start : start + n], scores[start : start + n]
            start += n
            self.scored += n
            self.agreed += sum(a == b for a, b in zip(mine, work.champion_labels, strict=True))
            if self.write is not None:
                text.append(
                    log_lines(
                        work.endpoint,
                        self.version,
                        None,
                        mine,
                        mine_scores,
                        request_id=work.request_id,
                        ids=work.ids,
                        role=CHALLENGER,
                    )
                )
        if text and self.write is not None:
            self.write("".join(text))

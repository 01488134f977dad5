"""Shadow scoring: a challenger model scored off the request path, from a bounded queue.

The service answers every request with the champion, then hands the request's records (or its feature matrix)
to :meth:`ShadowScorer.submit`, which only appends to a bounded deque (thread-safe, never waits). A task on the
server's event loop (:meth:`ShadowScorer.run`, started by the service's startup hook) wakes every
``INTERVAL`` seconds, takes what queued up and scores it in few matrix calls (the per-call overhead is shared),
then writes the challenger's prediction-log lines (``role: challenger``, the champion's ``request_id`` and ids).
When ``maxsize`` requests are waiting, new work is dropped and counted (``dropped``): the champion never waits.

Why a periodic task on the event loop and not a worker thread: a thread that computes while the event loop does
I/O makes the loop wait for the GIL after each of its many system calls (up to the 5 ms switch interval each);
measured with a worker thread, the champion's p99 at 16 clients went from ~40 ms to ~250 ms. On the loop, the
challenger costs the champion one short pause per interval instead (benchmarks/results/shadow.md).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_template.ops.serving.predictor import Predictor, decide
from mlops_template.ops.serving.predlog import CHALLENGER, log_lines

INTERVAL = 0.05  # seconds between drains of the queue
CHUNK_ROWS = 1000  # records scored per matrix call on the event loop; a bigger single request goes to a thread


@dataclass(frozen=True)
class ShadowWork:
    endpoint: str
    request_id: str
    ids: list[Any]
    champion_labels: list[Any]
    records: Sequence[dict[str, Any]] | None = None  # validated records, or ...
    matrix: np.ndarray | None = None  # ... the champion's feature matrix (same features only)


class ShadowScorer:
    """The challenger, its bounded queue and its counters (submitted, scored, dropped, failed, agreement)."""

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
        self.pending: collections.deque[ShadowWork] = collections.deque()
        self.submitted = self.dropped = self.scored = self.failed = self.agreed = 0

    def submit(self, work: ShadowWork) -> bool:
        """Enqueue without waiting (any thread); False (and counted) when the queue is full."""
        if len(self.pending) >= self.maxsize:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return False
        self.pending.append(work)
        self.submitted += 1
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "model_version": self.version,
            "queue_size": self.maxsize,
            "queued": len(self.pending),
            "submitted": self.submitted,
            "scored": self.scored,
            "dropped": self.dropped,
            "failed": self.failed,
            "agreement": self.agreed / self.scored if self.scored else None,
        }

    def take(self) -> list[ShadowWork]:
        """The next chunk of queued work: up to ``CHUNK_ROWS`` records (at least one request)."""
        batch: list[ShadowWork] = []
        rows = 0
        while self.pending and (not batch or rows + len(self.pending[0].ids) <= CHUNK_ROWS):
            work = self.pending.popleft()
            batch.append(work)
            rows += len(work.ids)
        return batch

    def drain(self) -> None:
        """Score everything queued now, in the calling thread (tests; the service uses :meth:`run`)."""
        while self.pending:
            self.score(self.take())

    async def run(self, interval: float = INTERVAL) -> None:
        """Forever: sleep ``interval``, then score what queued up, yielding to requests between chunks."""
        while True:
            await asyncio.sleep(interval)
            while self.pending:
                batch = self.take()
                if sum(len(w.ids) for w in batch) > CHUNK_ROWS:  # one big request: off the event loop
                    await asyncio.to_thread(self.score, batch)
                else:
                    self.score(batch)
                await asyncio.sleep(0)

    def _matrix(self, work: ShadowWork) -> np.ndarray:
        if work.matrix is not None:
            return work.matrix
        assert work.records is not None
        return self.predictor.matrix(work.records)

    def score(self, batch: list[ShadowWork]) -> None:
        """Score a chunk with one matrix call and write its lines; a failure is counted, never raised."""
        if not batch:
            return
        try:
            matrices = [self._matrix(w) for w in batch]
            x = matrices[0] if len(matrices) == 1 else np.vstack(matrices)
            p = self.predictor
            labels, scores, _ = decide(p, p.proba_matrix(x) if p.is_classifier else p.predict_matrix(x), self.threshold)
        except Exception:  # a challenger that cannot score this traffic
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
                        work.endpoint, self.version, None, mine, mine_scores,
                        request_id=work.request_id, ids=work.ids, role=CHALLENGER,
                    )
                )  # fmt: skip
        if text and self.write is not None:
            self.write("".join(text))

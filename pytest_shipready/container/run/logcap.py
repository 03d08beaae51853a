"""A container's log, bounded in memory: the first lines up to a cap, then counted and
sampled.

A container can write hundreds of megabytes during a smoke run. Holding it whole (and
then every line as an object) made a run peak at gigabytes; here the log goes through a
:class:`LogCollector` chunk by chunk: the first ``cap`` bytes of whole lines are kept in
order, every later line is counted and a fixed-size random sample of them (seeded, so a
rerun picks the same lines) is kept for the checks too. Lines longer than
:data:`SAMPLE_LINE_MAX` beyond the cap (a first line longer than the cap too) are
counted, and the first :data:`PREFIX_BYTES` of a sample of them kept: enough to tell a
JSON object from text and to look for secret shapes, which the checks do, saying so.

Pure: no docker, no pytest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping

from ...checks import ContainerLogs

SAMPLE_SIZE = 1000  # lines kept from beyond the cap
SAMPLE_LINE_MAX = 16 * 1024  # bytes: a longer line beyond the cap is judged by its start
PREFIX_BYTES = SAMPLE_LINE_MAX  # of such a line: what is kept and judged


class LogCollector:
    """Feed chunks of a log (``feed``), then ``result()``; memory stays under about
    ``cap + 2 * SAMPLE_SIZE * SAMPLE_LINE_MAX`` bytes whatever the log's size."""

    def __init__(self, cap_bytes: int, sample_size: int = SAMPLE_SIZE,
                 seed: int = 0) -> None:
        self.cap = max(0, cap_bytes)
        self.sample_size = sample_size
        self.kept: list[bytes] = []
        self.kept_bytes = 0
        self.sample: list[bytes] = []
        self.beyond = 0  # lines after the cap (sampled or not)
        self.prefixes: list[bytes] = []  # the starts of a sample of the too long lines
        self.long_lines = 0  # lines after the cap too long to hold whole
        self.total_bytes = 0
        self.total_lines = 0
        self._full = False  # the cap is reached: from here on, count and sample
        self._partial = bytearray()  # the line being read
        self._partial_len = 0  # its length, also when only its start is held
        self._random = random.Random(seed)

    def feed(self, chunk: bytes) -> None:
        self.total_bytes += len(chunk)
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._grow(chunk[start:])
                return
            self._grow(chunk[start:end])
            self._line_done()
            start = end + 1

    def _grow(self, piece: bytes) -> None:
        if not piece:
            return
        self._partial_len += len(piece)
        # Before the cap is reached, enough for the line that crosses it to be sampled
        # whole (or judged by its start): not cut where the cap falls.
        limit = max(self.cap - self.kept_bytes, SAMPLE_LINE_MAX) if not self._full \
            else SAMPLE_LINE_MAX
        room = limit + 1 - len(self._partial)  # one byte more: "too long" is known
        if room > 0:
            self._partial += piece[:room]

    def _line_done(self) -> None:
        line = bytes(self._partial).rstrip(b"\r")
        length = self._partial_len
        self._partial = bytearray()
        self._partial_len = 0
        self.total_lines += 1
        if not self._full and self.kept_bytes + length + 1 <= self.cap:
            self.kept.append(line)
            self.kept_bytes += length + 1
            return
        self._full = True
        self.beyond += 1
        if length > SAMPLE_LINE_MAX:
            self.long_lines += 1
            self._reservoir(self.prefixes, line[:PREFIX_BYTES], self.long_lines)
            return
        self._reservoir(self.sample, line, self.beyond - self.long_lines)

    def _reservoir(self, kept: list[bytes], line: bytes, seen: int) -> None:
        """Reservoir sampling (Algorithm R): ``line`` is the ``seen``-th candidate."""
        if len(kept) < self.sample_size:
            kept.append(line)
        else:
            slot = self._random.randrange(seen)
            if slot < self.sample_size:
                kept[slot] = line

    def result(self, env: Mapping[str, str]) -> ContainerLogs:
        if self._partial_len:  # a last line without a newline
            self._line_done()
        return ContainerLogs(tuple(self.kept + self.sample), dict(env),
                             total_bytes=self.total_bytes, total_lines=self.total_lines,
                             kept=len(self.kept), cap_bytes=self.cap,
                             prefixes=tuple(self.prefixes), long_lines=self.long_lines,
                             prefix_bytes=PREFIX_BYTES)


def collect(chunks: Iterable[bytes], cap_bytes: int, env: Mapping[str, str]
            ) -> ContainerLogs:
    collector = LogCollector(cap_bytes)
    for chunk in chunks:
        collector.feed(chunk)
    return collector.result(env)


def any_line(chunks: Iterable[bytes], matches: Callable[[str], bool],
             line_max: int = 64 * 1024) -> bool:
    """Whether a line of the log matches, read chunk by chunk (lines longer than
    ``line_max`` are judged by their start)."""
    partial = bytearray()
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if len(partial) < line_max:
                partial += piece[:line_max - len(partial)]
            if end < 0:
                break
            if matches(partial.decode("utf-8", "replace")):
                return True
            partial = bytearray()
            start = end + 1
    return bool(partial) and matches(partial.decode("utf-8", "replace"))

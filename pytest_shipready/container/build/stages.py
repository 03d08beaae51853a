"""Stage bookkeeping for the builds: what the classic builder is given so that it builds
only what BuildKit builds, and which images a classic build made along the way.

Pure: no docker, no pytest. BuildKit builds the target stage and the stages it needs,
nothing else; the classic builder builds every stage before the target, in order, and
keeps the last image of each stage it does not ship as an untagged image. So the classic
builder gets a Dockerfile whose unneeded stages are blanked out (line numbers kept, so
that a failing step still names its line), and the images its steps made are recorded
from its output, to be removed once the build ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...dockerfile import parser

_NUMERIC_FROM = re.compile(r"(--from=)(\d+)\b")


def classic_dockerfile(text: str, target: str, build_args: dict[str, str] | None = None
                       ) -> str | None:
    """``text`` with the stages the target does not need blanked out (each of their
    lines made empty, so line numbers hold) and ``COPY --from=N`` renumbered for the
    stages kept; None when every stage is needed (give the classic builder the file as
    it is) or the target cannot be found (the builder says so itself)."""
    parsed = parser.parse(text, "Dockerfile", build_args or {})
    stage = parsed.target(target)
    if stage is None or not parsed.stages:
        return None
    needed = {s.index for s in parsed.needed(stage)}
    # Stages after the target are never built by the classic builder either.
    dropped = [s for s in parsed.stages if s.index not in needed and s.index < stage.index]
    if not dropped:
        return None
    lines = text.split("\n")
    starts = [s.line for s in parsed.stages] + [len(lines) + 1]
    for s in dropped:
        for number in range(s.line, starts[s.index + 1]):
            lines[number - 1] = ""
    renumber = {old: new for new, old in enumerate(sorted(needed | {
        s.index for s in parsed.stages if s.index > stage.index}))}
    for s in parsed.stages:
        if s.index not in needed:
            continue
        for ins in s.instructions:
            if ins.keyword not in ("COPY", "ADD") or not (ins.flag("from") or "").isdigit():
                continue
            for number in range(ins.line, ins.end_line + 1):
                lines[number - 1] = _NUMERIC_FROM.sub(
                    lambda m: m.group(1) + str(renumber.get(int(m.group(2)),
                                                            int(m.group(2)))),
                    lines[number - 1])
    return "\n".join(lines)


# --- the classic builder's output ------------------------------------------------------

_STEP_ID = re.compile(r"^\s*---> ([0-9a-f]{12})\s*$")
_CACHED = re.compile(r"^\s*---> Using cache\s*$")
_RUNNING = re.compile(r"^\s*---> Running in ([0-9a-f]{12})\s*$")


@dataclass
class StepImages:
    """The images a classic build's steps produced, read from its output: ``made`` are
    new (this build created them), ``cached`` were in the engine before (someone's
    cache: never removed by this run); ``containers`` the step containers it ran."""

    made: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    _from_cache: bool = False

    def feed(self, line: str) -> str | None:
        """Read one output line; the id of a new step image when it names one."""
        if _CACHED.match(line):
            self._from_cache = True
            return None
        running = _RUNNING.match(line)
        if running:
            self.containers.append(running.group(1))
            return None
        m = _STEP_ID.match(line)
        if m is None:
            return None
        image_id = m.group(1)
        if self._from_cache:
            self._from_cache = False
            self.cached.append(image_id)
            return None
        self.made.append(image_id)
        return image_id

    def leftovers(self, final_id: str) -> list[str]:
        """The new step images to remove once the build is done: all of them but the
        final image (its ancestors are refused by the engine as parents of it, and so
        stay; what is left is the last image of each stage that is not shipped)."""
        short = final_id.removeprefix("sha256:")[:12]
        return [i for i in self.made if i != short]

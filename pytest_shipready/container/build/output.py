"""What a build ended with, whichever builder ran it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BuildOutput:
    ok: bool
    image_id: str = ""
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    error: str = ""
    builder: str = "docker-py"
    # The engine stopped answering during the build (its progress silent for
    # engine_timeout and a ping unanswered): the error says so, not a step's failure.
    stalled: bool = False
    # Images the build made on the way that it does not ship (the classic builder's
    # last image of each stage not shipped), already removed or to be removed.
    step_images: list[str] = field(default_factory=list)

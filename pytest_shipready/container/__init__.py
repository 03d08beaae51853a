"""SR21x-SR4xx: the image build, the smoke checks and parity, on one build and one session
container, in three rooms by what their data goes through:

- ``build/``: the builders and the docker session the others share (``image.DockerRun``);
- ``run/``: the session and hardened containers, the backing services and release phase
  (``backing`` is pure), readiness, the smoke verdicts (``smoke``
  is pure), the container's log and the probes that reach it;
- ``inspect/``: what the image holds: parity (``parity`` and ``testparity`` are pure),
  integrity, layer contents (``contents`` is pure), declared facts, what it ships.

Beside them: ``engine`` is the only module that imports docker/testcontainers;
``enginehost`` says what to tell when the engine fails; ``session`` owns labels and
reaping; ``fixtures`` and ``explore`` serve the user fixtures and ``--shipready-init``;
``area`` plans the items.
"""

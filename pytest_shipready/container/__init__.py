"""SR21x-SR4xx: the image build, the smoke checks and parity, on one build and one session
container. ``engine`` is the only module that imports docker/testcontainers; ``session``
owns labels and reaping; ``smoke``, ``parity`` and ``testparity`` are pure verdicts;
``build``, ``smokerun`` and ``parityrun`` drive them; ``area`` plans the items.
"""

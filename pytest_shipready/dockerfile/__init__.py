"""SR20x static Dockerfile checks: ``parser`` reads a Dockerfile as BuildKit does,
``installs`` finds the dependency installs, ``ignore`` matches .dockerignore, ``hygiene``
judges, ``context`` hashes the build context; ``area`` plans the items.
"""

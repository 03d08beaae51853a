"""SR6xx: what deploys the image agrees with it.

``kube`` reads Kubernetes manifests, ``compose`` a Compose file (also for the backing
services of the image and its environment), ``refs`` image references, ``find`` finds
the files and picks the containers that run this image, ``judge`` turns observations of
the session container into verdicts (all pure); ``area`` plans the items.
"""

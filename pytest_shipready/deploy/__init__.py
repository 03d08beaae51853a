"""Readers of deployment manifests (pure: plain data in, plain data out). ``compose``
reads a Compose file for the backing services of the image and its environment.
"""

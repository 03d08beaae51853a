"""A small HTTP service that pytest-shipready's README builds, runs and checks."""

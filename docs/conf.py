"""Sphinx configuration: Markdown pages through MyST; built with -W (warnings are errors)."""

project = "pytest-shipready"
author = "pytest-shipready developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
myst_heading_anchors = 3

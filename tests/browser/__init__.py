"""Helpers for the browser test: an isolated JupyterLab server and headless Chromium."""

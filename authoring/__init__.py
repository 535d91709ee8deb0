"""Instructor tools that build the assignment's artefacts."""

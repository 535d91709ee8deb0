"""Instructor-only grading package: reference, checks, sandbox, nbgrader glue; never shipped."""

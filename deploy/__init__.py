"""Worked examples of a Dask cluster for the grader on a batch system (``slurm``) and on Kubernetes
(``kubernetes/``): not installed with the grader, run from a clone (README, "On SLURM and
Kubernetes")."""

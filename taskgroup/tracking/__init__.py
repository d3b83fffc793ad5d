"""Experiment tracking: send a finished run directory to MLflow (the optional ``mlflow`` extra).

``log_run(DIR, uri)`` reads only the run documents, like the report, and logs the configuration
as parameters, the decision and every alternative's Delta_m as metrics, the JSON documents, the
report and the trained networks (as one MLflow model with its signature) as artifacts. MLflow is
imported only here, and only when tracking is asked for.
"""

from .mlflow_log import DEFAULT_URI, log_run

__all__ = ["DEFAULT_URI", "log_run"]

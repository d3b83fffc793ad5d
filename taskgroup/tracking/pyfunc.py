"""The MLflow pyfunc wrapper of a run's saved networks (imported only when mlflow is installed)."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class TaskgroupModel(mlflow.pyfunc.PythonModel):
    """Predicts every task from raw features with the networks saved in a run's ``models/``."""

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        from ..comparison.deliver import Predictor

        self.predictor = Predictor(Path(context.artifacts["models"]).parent)

    def predict(self, context, model_input, params=None):  # no type hints: MLflow reads them as a schema
        import numpy as np

        return self.predictor.predict(np.asarray(model_input, dtype=np.float32))

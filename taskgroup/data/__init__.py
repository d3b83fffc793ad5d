"""Data sources: CSV tables, ``.npz`` files and arrays, built-in generators, and the shared real sets.

``load_taskset(cfg)`` is the entry point from a configuration; the rest serve the Python API.
"""

from .arrays import load_npz, taskset_from_arrays
from .digits import digits
from .load import load_taskset, resplit, select_tasks, standardize_features
from .registry import BUILTINS, Builtin, builtin_options, list_builtins, load_builtin
from .shared import computer_survey, landmine, sarcos, school, shared_root
from .synthetic import planted_groups, synthetic
from .table import load_table
from .targets import TaskSpec

__all__ = [
    "BUILTINS", "Builtin", "TaskSpec", "builtin_options", "computer_survey", "digits", "landmine", "list_builtins",
    "load_builtin", "load_npz", "load_table", "load_taskset", "planted_groups", "resplit", "sarcos", "school",
    "select_tasks", "shared_root", "standardize_features", "synthetic", "taskset_from_arrays",
]

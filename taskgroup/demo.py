"""The demo's configurations: the whole pipeline on built-in data, sized for a 2-core CPU."""

from __future__ import annotations

from pathlib import Path

from .config import AnalyzeConfig, CompareConfig, Config, DataConfig, GroupConfig, ModelConfig, TrainConfig

GITIGNORE = "# written by taskgroup demo: generated output, not for version control\n*\n"


def ignore_in_git(directory: str | Path) -> Path:
    """Write ``DIR/.gitignore`` ignoring everything in DIR (kept when the user already has one)."""
    from .runtime.atomic import write_text

    path = Path(directory) / ".gitignore"
    if not path.exists():
        write_text(path, GITIGNORE)
    return path


def demo_config(dataset: str = "synthetic", quick: bool = False) -> Config:
    """A ready-made experiment on built-in data; ``quick`` trades seeds and steps for speed."""
    if dataset == "digits":
        data = DataConfig(builtin="digits")
        model = ModelConfig(encoder="auto", hidden=[32])
    else:
        options = {"n_clusters": 2, "tasks_per_cluster": 3} if quick else {"n_clusters": 3, "tasks_per_cluster": 3}
        data = DataConfig(builtin="synthetic", options=options)
        model = ModelConfig(hidden=[64, 64])
    analyze = AnalyzeConfig(steps=200, probe_steps=200, probe_seeds=2) if quick else AnalyzeConfig()
    train = TrainConfig(steps=600, eval_every=50, patience=4) if quick else TrainConfig()
    alternatives = ["recommended", "single_task", "all_in_one", "soft_sharing", "random"]
    compare = (CompareConfig(seeds=2, random_groupings=2, alternatives=alternatives) if quick
               else CompareConfig(seeds=3, random_groupings=3))
    return Config(data=data, model=model, train=train, analyze=analyze, group=GroupConfig(), compare=compare,
                  seed=0, source=f"<demo {dataset}{' quick' if quick else ''}>")

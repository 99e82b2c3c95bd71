"""Built-in monitor plugins, registered through ``clarity_monitors`` like any plugin.

Also the API to build and read drift baselines outside of ``log_model``::

    from mlflow_clarity.monitors import Baseline, build_baseline

    baseline = build_baseline(df)             # profile every row of df
    baseline.write(Path("baseline"))          # baseline.json, profile.json, statistics.json...
    stored = Baseline.read("models:/churn/3") # the baseline logged with a model
    result = check_batch(stored, [(batch_df, None)])  # drift statistics, no MLflow run
"""

from mlflow_clarity.monitors.baseline.data_profile import DataProfile, build_profile
from mlflow_clarity.monitors.baseline.step import Baseline, build_baseline
from mlflow_clarity.monitors.check.drift_check import CheckInputError, CheckResult, check_batch

__all__ = [
    "Baseline",
    "CheckInputError",
    "CheckResult",
    "DataProfile",
    "build_baseline",
    "build_profile",
    "check_batch",
]

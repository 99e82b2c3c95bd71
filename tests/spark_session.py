"""One local Spark session for every Spark test (starting one takes 10-40 s).

Import the ``spark`` fixture from here; the tests that use it are marked ``spark``.
Without pyspark or Java 17+, they are skipped with that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest


def _java_problem() -> str | None:
    """Why Spark cannot start here (no pyspark, no java, java < 17), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'mlflow-clarity[spark]')"
    java = shutil.which("java")
    if java is None:
        return "no java on PATH; pyspark 4 needs Java 17+ (make setup installs it)"
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', banner)
    if match is None or int(match.group(1)) < 17:
        return f"pyspark 4 needs Java 17+, found: {banner.splitlines()[:1]}"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A ``local[2]`` SparkSession shared by the whole test run (no UI, few partitions)."""
    problem = _java_problem()
    if problem:
        pytest.skip(problem)
    from pyspark.sql import SparkSession

    # Python workers run this interpreter (pandas, pyarrow and mlflow_clarity importable)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-clarity-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()

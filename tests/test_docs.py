"""docs/plugins.md documents every hook and every public field a plugin can touch."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from mlflow_clarity import types
from mlflow_clarity.hooks import specs
from mlflow_clarity.manager import HOOK_NAMES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
PUBLIC_TYPES = (
    types.ModelContext,
    types.ReferenceData,
    types.ExplainerSpec,
    types.MonitorSpec,
    types.StepWorkspace,
    types.StepOutput,
    types.StepResult,
    types.RunReport,
    types.ReportSection,
)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_section_titled_by_its_signature(hook: str) -> None:
    arguments = ", ".join(inspect.signature(getattr(specs, hook)).parameters)
    assert re.search(rf"^### `{hook}\({re.escape(arguments)}\)", DOC, re.MULTILINE), hook


@pytest.mark.parametrize("cls", PUBLIC_TYPES, ids=lambda c: c.__name__)
def test_every_public_field_is_documented(cls: type) -> None:
    assert f"`{cls.__name__}`" in DOC
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in DOC]
    assert not missing, f"{cls.__name__}: {missing} not in docs/plugins.md"


def test_every_public_method_of_the_data_types_is_documented() -> None:
    for cls in (types.ReferenceData, types.StepWorkspace, types.ModelContext):
        for name, member in vars(cls).items():
            if callable(member) and not name.startswith("_"):
                assert f"{name}(" in DOC, f"{cls.__name__}.{name}"

"""A reversible float encoding of mixed-type tables, for model-agnostic explainers.

Model-agnostic explainers (Permutation, Exact, Kernel, LIME) work on float matrices and
build new rows by mixing values of real rows. Non-numeric columns (strings, categoricals,
booleans, datetimes) are encoded as category codes; decoding turns every code back into
the original value with the original dtype, so the model is always called on a DataFrame
like the one it was trained on, and explanations are per **raw input column**.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def is_numeric_column(column: pd.Series) -> bool:
    """Whether a column is numeric for modelling (booleans are not)."""
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


@dataclass(frozen=True)
class TableEncoding:
    """How to turn a DataFrame into a float matrix and back.

    Attributes:
        columns: Column names, in order.
        dtypes: Original dtype of each column.
        categories: For each non-numeric column, the values its codes stand for.
    """

    columns: tuple[str, ...]
    dtypes: Mapping[str, Any]
    categories: Mapping[str, tuple[Any, ...]]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> TableEncoding:
        """Learn the encoding of ``frame`` (category values in order of first appearance)."""
        import pandas as pd

        categories: dict[str, tuple[Any, ...]] = {}
        for name in frame.columns:
            column = frame[name]
            if is_numeric_column(column):
                continue
            if isinstance(column.dtype, pd.CategoricalDtype):
                categories[name] = tuple(column.cat.categories)
            else:
                categories[name] = tuple(pd.unique(column.dropna()))
        return cls(tuple(frame.columns), dict(frame.dtypes.items()), categories)

    @property
    def all_numeric(self) -> bool:
        """Whether every column is numeric (the encoding is the identity)."""
        return not self.categories

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode ``frame`` as float64; missing and unseen categories become NaN."""
        import numpy as np
        import pandas as pd

        out = np.empty((len(frame), len(self.columns)), dtype="float64")
        for j, name in enumerate(self.columns):
            column = frame[name]
            if name in self.categories:
                codes = pd.Categorical(column, categories=list(self.categories[name])).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = column.to_numpy(dtype="float64", na_value=np.nan)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """Turn an encoded matrix back into a DataFrame with the original dtypes."""
        import numpy as np
        import pandas as pd

        data: dict[str, Any] = {}
        for j, name in enumerate(self.columns):
            values = matrix[:, j]
            dtype = self.dtypes[name]
            if name in self.categories:
                lookup = np.array([*self.categories[name], None], dtype=object)
                codes = np.where(np.isnan(values), -1, np.round(values)).astype(int)
                decoded = pd.Series(lookup[codes], dtype=object)
                data[name] = (
                    decoded if dtype is object or dtype == "object" else decoded.astype(dtype)
                )
            elif np.isnan(values).any() or pd.api.types.is_float_dtype(dtype):
                data[name] = values
            else:
                data[name] = values.astype(dtype)
        return pd.DataFrame(data, columns=list(self.columns))

    def category_labels(self, name: str) -> tuple[str, ...] | None:
        """The category values of a non-numeric column as strings, or None."""
        values = self.categories.get(name)
        return None if values is None else tuple(str(v) for v in values)

"""Shape/dtype annotations (jaxtyping) shared by the public API.

Dimension names: ``N`` eigenvalues (spectrum nodes), ``M`` memory size, ``T`` schedule length,
``R`` recorded steps, ``d`` data dimension. A leading ``*T`` means "scalar for a stationary
algorithm, or a leading time axis of length ``T`` for a schedule".
"""

from __future__ import annotations

from typing import Union

from jaxtyping import Array, ArrayLike, Bool, Float, Int

Scalar = Union[float, Float[ArrayLike, ""]]
Eigenvalues = Float[ArrayLike, "N"]
Coefficients = Float[ArrayLike, "N"]
StepSize = Float[ArrayLike, "*T"]
MemoryVector = Float[ArrayLike, "*T M"]
MemoryMatrix = Float[ArrayLike, "*T M M"]
Recorded = Float[Array, "R"]
RecordedSteps = Int[Array, "R"]
Flag = Bool[Array, ""]

__all__ = ["Array", "ArrayLike", "Bool", "Float", "Int", "Scalar", "Eigenvalues", "Coefficients",
           "StepSize", "MemoryVector", "MemoryMatrix", "Recorded", "RecordedSteps", "Flag"]

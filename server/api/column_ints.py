"""Integer types for API fields bounded by the database column they are stored in or looked
up by: a value the column cannot hold is a 422 naming the field, not a 500 from the database
(SQLite's "Python int too large", PostgreSQL's "integer out of range")."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]  # an `Integer` column (ids too)
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # a `BigInteger` column

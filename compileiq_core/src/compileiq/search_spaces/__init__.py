"""Search spaces: the builders (`base`), their models (`models`), the compiled space (`space`),
constraints (`constraints`) and T1 kernel specifications (`from_t1`)."""

from compileiq.search_spaces.t1 import T1Space, from_t1

__all__ = ["T1Space", "from_t1"]

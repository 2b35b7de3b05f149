"""ILIKE patterns built from user text, with the wildcards escaped."""


def contains_pattern(text: str) -> str:
    """`%text%` where `%`, `_` and `\\` in the text match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

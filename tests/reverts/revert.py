"""The one edit every defect-N.py makes: a fix's code replaced by the defect it removed."""

from pathlib import Path


def undo(path: str, fixed: str, defect: str) -> None:
    """Replaces `fixed` (which must be in `path`, else the fix moved) with `defect`."""
    file = Path(path)
    source = file.read_text()
    if fixed not in source:
        raise SystemExit(
            f"{path}: the fixed code this revert undoes is no longer there; "
            "update tests/reverts to the code as it is now"
        )
    file.write_text(source.replace(fixed, defect))

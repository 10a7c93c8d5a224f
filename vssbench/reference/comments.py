"""The comments a dataclass's source gives its fields: the reference pages' descriptions, so each
setting is described once, where it is declared."""

import ast
import inspect
import io
import tokenize
from functools import cache


@cache
def _module_comments(path: str) -> tuple[dict[int, str], dict[int, str]]:
    """Comment text by line number: the comments alone on their line, and those after code."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    alone: dict[int, str] = {}
    after: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            own_line = not token.line[: token.start[1]].strip()
            (alone if own_line else after)[token.start[0]] = text
    return alone, after


def field_comments(cls: type) -> dict[str, str]:
    """Each annotated field of `cls` and its dataclass bases with the comment block above it and
    the comment on its line, joined into one paragraph ("" when it has none)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if "__dataclass_fields__" in vars(klass) and klass.__module__ != "types":
            out.update(_own_field_comments(klass))
    return out


def _own_field_comments(cls: type) -> dict[str, str]:
    path = inspect.getsourcefile(cls)
    alone, after = _module_comments(path)
    lines, first = inspect.getsourcelines(cls)
    body = ast.parse(inspect.cleandoc("".join(lines)) if lines[0][0] == " " else "".join(lines))
    (node,) = body.body
    out = {}
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        line = first + statement.lineno - 1
        above = []
        previous = line - 1
        while previous in alone:
            above.insert(0, alone[previous])
            previous -= 1
        trailing = [after[line]] if line in after else []
        out[statement.target.id] = " ".join([*above, *trailing])
    return out

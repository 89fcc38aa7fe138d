"""Every regular expression the code runs on cells, names or request values takes linear time.

A pattern with overlapping quantifiers (``[\\s%]*$`` is tried from every position) turns one
long cell into hours of work for the only worker. This test finds every pattern in
``automl/`` and ``platform/`` (``re.*`` calls, compiled constants and pandas' ``.str``
methods) and runs each on long strings built to trigger backtracking. A linear pattern
answers in milliseconds; a quadratic one would need minutes, so the bound is far from any
machine's speed. A pattern the scan cannot read (built at run time) fails the test: make it
a literal or a module-level constant.
"""

from __future__ import annotations

import ast
import re
import signal
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*(ROOT / "automl").rglob("*.py"), *(ROOT / "platform" / "webapp").rglob("*.py")]
RE_FUNCTIONS = {"compile", "sub", "subn", "match", "fullmatch", "search", "split", "findall"}
# pandas' string methods whose first argument is a regular expression, as the ``re`` method
# each amounts to.
STR_METHODS = {
    "replace": "sub", "match": "match", "fullmatch": "fullmatch", "contains": "search",
    "count": "findall", "extract": "search", "findall": "findall",
}  # fmt: skip
USED_AS = {"subn": "sub", "finditer": "findall"}
LENGTH = 100_000
# A linear pattern takes milliseconds on LENGTH characters; a quadratic one, a minute.
BOUND_SECONDS = 2.0
ALPHABET = "0123456789aZ _-.,;:%$€+=@\t\n/\\()'\"x"


def _is_re_call(node: ast.AST, name: str | None = None) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        and (node.func.attr == name if name else node.func.attr in RE_FUNCTIONS)
        and bool(node.args)
    )


def _str_method(node: ast.AST) -> str | None:
    """The ``re`` method a pandas ``.str`` call runs its pattern with, if it takes one."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
        return None
    owner, name = node.func.value, node.func.attr
    if not (isinstance(owner, ast.Attribute) and owner.attr == "str" and name in STR_METHODS):
        return None
    regex = {k.arg: k.value for k in node.keywords}.get("regex")
    is_literal = isinstance(regex, ast.Constant)
    # .str.replace reads a pattern only with regex=True; the others unless regex=False.
    if name == "replace" and not (is_literal and regex.value is True):
        return None
    if is_literal and regex.value is False:
        return None
    return STR_METHODS[name]


def _flags(call: ast.Call) -> int:
    flags = 0
    for node in ast.walk(call):
        is_re = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        if is_re and node.value.id == "re" and node.attr.isupper():
            flags |= getattr(re, node.attr)
    return flags


def _constants(tree: ast.Module) -> dict[str, tuple[str, int, bool]]:
    """Module-level patterns: ``NAME = "..."`` and ``NAME = re.compile("...", flags)``, with
    whether the name holds a compiled pattern."""
    constants = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if not isinstance(target, ast.Name):
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            constants[target.id] = (value.value, 0, False)
        elif _is_re_call(value, "compile") and isinstance(value.args[0], ast.Constant):
            constants[target.id] = (value.args[0].value, _flags(value), True)
    return constants


def _pattern_of(argument: ast.AST, constants: dict) -> tuple[str, int] | None:
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value, 0
    if isinstance(argument, ast.Name) and argument.id in constants:
        return constants[argument.id][:2]
    return None


def uses() -> list[tuple[str, str | None, int, str]]:
    """``(where, pattern, flags, method)`` for every pattern the code runs, with the ``re``
    method it runs it with; the pattern is None where it is built at run time."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        constants = _constants(tree)
        compiled = {name for name, (_, _, is_compiled) in constants.items() if is_compiled}
        top_level = {id(a.value) for a in tree.body if isinstance(a, ast.Assign)}
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if _is_re_call(node, "compile"):
                # A module constant is checked where it is used; one compiled in place could
                # be run in any way.
                method = None if id(node) in top_level else "any"
            elif _is_re_call(node):
                method = node.func.attr
            elif _calls_compiled(node, compiled):
                pattern, flags, _ = constants[node.func.value.id]
                found.append((where, pattern, flags, USED_AS.get(node.func.attr, node.func.attr)))
                continue
            else:
                method = _str_method(node)
            if method is None:
                continue
            pattern = _pattern_of(node.args[0], constants)
            flags = _flags(node) | (pattern[1] if pattern else 0)
            found.append((where, pattern and pattern[0], flags, USED_AS.get(method, method)))
    return found


def _calls_compiled(node: ast.AST, compiled: set[str]) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in compiled
    )


def attacks() -> list[str]:
    """Long runs of one character, alone and between a digit and a character that fails."""
    strings = []
    for char in ALPHABET:
        run = char * LENGTH
        strings += [run, "1" + run + "x", "1" + run + "\x00", run + "!"]
    strings += ["1," * (LENGTH // 2) + "x", "1." * (LENGTH // 2) + "x", "a1" * (LENGTH // 2)]
    return strings


class TooSlow(Exception):
    pass


def _interrupt(signum, frame):
    raise TooSlow


def test_the_scan_finds_the_patterns_it_should():
    found = {pattern for _, pattern, _, _ in uses()}
    # The reader's number shapes, the profile's target names and the batch formula guard.
    assert r"[+-]?(\d[\d.,]*|[.,]\d[\d.,]*)([eE][+-]?\d+)?" in found
    assert r"^[=+\-@\t\r]" in found
    assert len(found) >= 10


@pytest.mark.slow
@pytest.mark.parametrize(("where", "pattern", "flags", "method"), uses(), ids=str)
def test_every_pattern_takes_linear_time(where, pattern, flags, method):
    assert pattern is not None, f"{where}: the pattern is built at run time; make it a constant"
    compiled = re.compile(pattern, flags)
    methods = ["search", "fullmatch", "sub"] if method == "any" else [method]
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, 10 * BOUND_SECONDS)
    slowest, worst = 0.0, ""
    try:
        for text in attacks():
            started = time.perf_counter()
            for name in methods:
                run = getattr(compiled, name)
                run("", text) if name == "sub" else run(text)
            seconds = time.perf_counter() - started
            if seconds > slowest:
                slowest, worst = seconds, text[:3]
    except TooSlow:
        pytest.fail(f"{where}: {pattern!r} did not finish on a long string: it backtracks")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert slowest < BOUND_SECONDS, f"{where}: {pattern!r} took {slowest:.1f} s on {worst!r}..."

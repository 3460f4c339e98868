"""Config files as plain data, read safely: YAML or JSON text to dicts, lists, strings,
numbers and flags, refusing what no config needs and what would cost time or memory out of
proportion to the file.

A config is refused, with one line naming the file (and line, where known), when it

- is larger than :data:`MAX_CONFIG_BYTES` or not UTF-8 text;
- is not YAML (JSON for a ``.json`` file);
- stands for more than :data:`MAX_CONFIG_BYTES` characters and values once its YAML aliases
  (``*name``) are expanded, or has an alias that holds itself (a "billion laughs" file is a
  few hundred bytes that stand for gigabytes);
- nests more than :data:`MAX_DEPTH` lists or mappings deep;
- gives a key twice in one mapping (YAML and JSON readers otherwise keep the last silently);
- holds a whole number of more than :data:`MAX_DIGITS` digits, or JSON's ``NaN`` or
  ``Infinity``.

YAML dates and times are read as text (no config field is a date, and a date such as
``2020-13-45`` would otherwise fail to be one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtkit._errors import excerpt

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_DIGITS", "ConfigReadError", "read_config"]

#: The largest config file read, in bytes, and the most characters and values its YAML aliases
#: may expand it to (a job config is a few hundred bytes).
MAX_CONFIG_BYTES = 64 * 1024
#: The deepest nesting of lists and mappings in a config.
MAX_DEPTH = 32
#: The most digits of a whole number in a config.
MAX_DIGITS = 30


class ConfigReadError(Exception):
    """A config file that cannot be read as data: ``where`` (``file`` or ``file:line``) and
    ``why``, one line."""

    def __init__(self, where: str, why: str) -> None:
        self.where = where
        self.why = why
        super().__init__(f"{where}: {why}")


def read_config(path: str | os.PathLike[str]) -> Any:
    """The data of the YAML or JSON (by a ``.json`` suffix) config file at ``path``, as plain
    Python values; ConfigReadError says why a file cannot be (see the module docstring)."""
    p = Path(path)
    name = str(p)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigReadError(name, f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigReadError(name, f"larger than {MAX_CONFIG_BYTES} bytes; is it a config?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigReadError(
            f"{name}:{line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None
    if p.suffix.lower() == ".json":
        return _json(text, name)
    return _yaml(text, name)


# ---------------------------------------------------------------------- JSON
class _JsonError(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _JsonError(f"key {excerpt(key)} given twice in one object; give it once")
        found[key] = value
    return found


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _JsonError(f"a whole number of {len(text.lstrip('-'))} digits; at most {MAX_DIGITS}")
    return int(text)


def _constant(text: str) -> Any:
    raise _JsonError(f"{text} is not a JSON number")


def _json(text: str, name: str) -> Any:
    try:
        data = json.loads(
            text, object_pairs_hook=_pairs, parse_int=_whole, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise ConfigReadError(f"{name}:{exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except _JsonError as exc:
        raise ConfigReadError(name, str(exc)) from None
    except RecursionError:
        raise ConfigReadError(name, f"nested more than {MAX_DEPTH} deep") from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigReadError(name, f"nested more than {MAX_DEPTH} deep")
    return data


def _depth(value: Any) -> int:
    """How deep lists and mappings nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


# ---------------------------------------------------------------------- YAML
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"


def _yaml(text: str, name: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """The safe loader, refusing to nest deeper than MAX_DEPTH: its scanner at the
        MAX_DEPTH-th ``[`` or ``{`` (before it looks far ahead for keys, which costs the
        square of the nesting), its composer before it recurses that deep."""

        depth = 0

        def fetch_flow_collection_start(self, token_class: Any) -> None:
            if self.flow_level >= MAX_DEPTH:
                line = self.get_mark().line + 1
                raise ConfigReadError(f"{name}:{line}", f"nested more than {MAX_DEPTH} deep")
            super().fetch_flow_collection_start(token_class)

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH + 1:
                    line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                    raise ConfigReadError(f"{name}:{line}", f"nested more than {MAX_DEPTH} deep")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    loader = None
    try:
        loader = Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node, name)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigReadError(
            f"{name}:{line}", f"not valid YAML: character U+{exc.character:04X} is not allowed"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        what = exc.problem or exc.context or "malformed"
        raise ConfigReadError(where, f"not valid YAML: {excerpt(what)[1:-1]}") from None
    except yaml.YAMLError as exc:
        raise ConfigReadError(
            name, f"not valid YAML: {excerpt(' '.join(str(exc).split()))[1:-1]}"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check(root: yaml.Node, name: str) -> None:
    """Refuse a YAML node graph that expands too far, nests too deep, holds itself, gives a
    key twice or a too-long whole number; dates become text. Each node is visited once, so
    this costs the size of the file, not of what its aliases stand for."""
    import yaml

    size: dict[int, int] = {}  # characters and values a node stands for, aliases expanded
    depth: dict[int, int] = {}
    path: set[int] = set()  # the nodes from the root to the one being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]

    def refuse(node: yaml.Node, why: str) -> ConfigReadError:
        return ConfigReadError(f"{name}:{node.start_mark.line + 1}", why)

    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            depth[id(node)] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[id(node)] > MAX_CONFIG_BYTES:
                raise refuse(
                    node, f"stands for more than {MAX_CONFIG_BYTES} characters and values "
                    "once its aliases (*name) are expanded",
                )  # fmt: skip
            if depth[id(node)] > MAX_DEPTH:
                raise refuse(node, f"nested more than {MAX_DEPTH} deep (aliases expanded)")
            continue
        if id(node) in size:
            continue
        if id(node) in path:
            raise refuse(node, "an alias (*name) inside the value it names")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT and len(node.value.lstrip("+-")) > MAX_DIGITS:
                raise refuse(
                    node, f"a whole number of {len(node.value)} digits; at most {MAX_DIGITS}"
                )
            if node.tag == _TIMESTAMP:
                node.tag = _STR
            size[id(node)] = 1 + len(node.value)
            depth[id(node)] = 0
            continue
        if isinstance(node, yaml.MappingNode):
            _unique_keys(node, refuse)
        path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _unique_keys(node: yaml.MappingNode, refuse: Any) -> None:
    import yaml

    seen: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue
        first = seen.get((key.tag, key.value))
        if first is not None:
            raise refuse(
                key, f"key {excerpt(key.value)} given twice (first on line {first}); give it once"
            )
        seen[(key.tag, key.value)] = key.start_mark.line + 1

"""Worker UIs: the Liquid HTML templates in ``templates/``, filled with a job's instructions.

>>> html = render_template("bounding-box", header="Box every bird", short_instructions="Tight")
>>> "{{ task.input.taskObject | grant_read_access }}" in html and "Box every bird" in html
True
"""

from __future__ import annotations

import html
import re
from importlib import resources

from gtkit._errors import Problem, SpecError
from gtkit._tasks import TASKS, get_task

__all__ = ["liquid_variables", "render_template", "template_source"]

_PLACEHOLDERS = ("header", "short_instructions", "full_instructions")
_LIQUID = re.compile(r"{{\s*(.*?)\s*}}")


def template_source(task: str) -> str:
    """The raw Liquid template shipped for ``task`` (placeholders unfilled)."""
    t = get_task(task)
    if t.template is None:
        with_templates = ", ".join(n for n, v in TASKS.items() if v.template)
        raise SpecError(
            [
                Problem(
                    "task",
                    f"{task} uses a built-in worker UI or your own template; gtkit ships "
                    f"templates for: {with_templates}",
                )
            ]
        )
    return resources.files("gtkit.templates").joinpath(t.template).read_text(encoding="utf-8")


def render_template(
    task: str,
    *,
    header: str,
    short_instructions: str = "",
    full_instructions: str = "",
) -> str:
    """Fill ``task``'s template with a header and instructions (plain text, HTML-escaped).

    The Liquid expressions (``{{ task.input.taskObject | grant_read_access }}`` and the labels)
    are left for Ground Truth to fill per task.
    """
    text = template_source(task)
    values = {
        "header": html.escape(header, quote=True),
        "short_instructions": html.escape(short_instructions or header),
        "full_instructions": html.escape(full_instructions or short_instructions or header),
    }
    for name in _PLACEHOLDERS:
        text = text.replace(f"[[{name}]]", values[name])
    return text


def liquid_variables(template: str) -> set[str]:
    """The Liquid expressions in a template, e.g. ``task.input.taskObject | grant_read_access``."""
    return {" ".join(m.split()) for m in _LIQUID.findall(template)}

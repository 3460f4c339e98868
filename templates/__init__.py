"""Liquid worker-task templates for Ground Truth's built-in image, text and video tasks.

``[[header]]``, ``[[short_instructions]]`` and ``[[full_instructions]]`` are filled by
:func:`gtkit.render_template` (HTML-escaped); ``{{ ... }}`` is Liquid, left for Ground Truth.
"""

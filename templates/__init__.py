"""Jinja2 templates for the text and Markdown renderers (shipped as package data)."""

"""Jinja2 templates of the text renderers in mlops_gitops/render (shipped as package data)."""

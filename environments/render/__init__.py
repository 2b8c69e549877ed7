"""Render a normalized blueprint into Kubernetes manifests: pure functions, no ORM, no network.

>>> result = render_environment(validate_blueprint(text).normalized, RenderContext(...))
>>> for wave in result.waves: apply_waves(cluster, [wave.objects], wait=wave.wait, ...)

See :mod:`environments.render.render` for the waves and :class:`RenderContext` for the inputs
the renderer cannot work out itself (generated secret values, repository files, cluster
settings).
"""

from __future__ import annotations

from .model import QuotaPolicy, RenderContext, RenderedEnvironment, RenderError, Wave
from .render import dependency_levels, generated_secret_keys, render_environment, required_files

__all__ = [
    "QuotaPolicy",
    "RenderContext",
    "RenderError",
    "RenderedEnvironment",
    "Wave",
    "dependency_levels",
    "generated_secret_keys",
    "render_environment",
    "required_files",
]

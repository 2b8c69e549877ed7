"""Render a normalized blueprint into Kubernetes manifests: pure functions, no ORM, no network.

>>> result = render_environment(validate_blueprint(text).normalized, RenderContext(...))
>>> for wave in result.waves: apply_waves(cluster, [wave.objects], wait=wave.wait, ...)

Overlays: :func:`render_overlay` renders an overlay namespace (local services plus bridges to
inherited ones, :mod:`.bridges`); :func:`render_routing` renders what a baseline needs to
header-route into its overlays (mesh-free routers, :mod:`.router`, and native entry routes,
:mod:`.header_routing`).

See :mod:`environments.render.render` for the waves and :class:`RenderContext` for the inputs
the renderer cannot work out itself (generated secret values, repository files, cluster
settings).
"""

from __future__ import annotations

from .header_routing import entry_routes, render_routing
from .model import ProviderRef, QuotaPolicy, RenderContext, RenderedEnvironment, RenderError, WakeTarget, Wave
from .overlay import render_overlay
from .render import dependency_levels, generated_secret_keys, published_ports, render_environment, required_files
from .router import RouterListener, nginx_router_config, nginx_router_config_for, render_router

__all__ = [
    "ProviderRef",
    "QuotaPolicy",
    "RenderContext",
    "RenderError",
    "RenderedEnvironment",
    "RouterListener",
    "WakeTarget",
    "Wave",
    "dependency_levels",
    "entry_routes",
    "generated_secret_keys",
    "nginx_router_config",
    "nginx_router_config_for",
    "published_ports",
    "render_environment",
    "render_overlay",
    "render_router",
    "render_routing",
    "required_files",
]

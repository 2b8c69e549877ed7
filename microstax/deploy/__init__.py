"""Deploying MicroStax itself: the control plane's manifests (``render_deploy``) and its health endpoints."""

from __future__ import annotations

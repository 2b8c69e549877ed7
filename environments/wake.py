"""Wake on demand: a stopped environment's routes lead to a small "waking up" page that resumes it.

While an environment is stopped its Ingress/HTTPRoute backends point at an ExternalName Service to
MicroStax (``WakeTarget`` from ``MICROSTAX_PUBLIC_URL``; see ``environments.render.routes``). The
request arrives either rewritten to ``/wake/<env id>/<service>/`` (NGINX, Gateway API) or with the
environment's own host (Traefik's Ingress provider cannot rewrite without its CRDs), which
``WakeHostMiddleware`` recognises. Either way :func:`wake` records the request as activity, resumes
the environment as the system (audited with the request's IP; the state transition is guarded, so
any number of requests queue one operation, and a per-environment rate limit keeps a burst from
even trying), and answers a page that refreshes until the environment is ready, then redirects to
the endpoint the request came through. The page needs no login and shows nothing but the
environment's name and state (a direct request, not through the route, is not redirected: it would
learn the environment's address).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.request import split_domain_port, validate_host
from django.shortcuts import render
from django.urls import reverse

from environments.actions import resume_environment, touch_activity
from environments.actions.lifecycle import SYSTEM
from environments.choices import EnvironmentState
from environments.models import Cluster, Environment
from environments.render import WakeTarget
from environments.render.names import dns_name
from microstax.lib.errors import Conflict

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 3
_DOMAINS_TTL = 60.0
_domains: tuple[float, tuple[str, ...]] = (0.0, ())
_UP = (EnvironmentState.READY, EnvironmentState.DEGRADED)


def wake_target(env: Environment) -> WakeTarget:
    """Where ``env``'s routes go while it is stopped: MicroStax's public URL, path of its wake page."""
    url = urlsplit(settings.MICROSTAX_PUBLIC_URL)
    scheme = url.scheme or "http"
    prefix = url.path.rstrip("/")
    return WakeTarget(
        host=url.hostname or "127.0.0.1",
        port=url.port or (443 if scheme == "https" else 80),
        path=prefix + reverse("environments:wake", args=[env.public_id]),
        scheme=scheme,
    )


def _claim(env: Environment) -> bool:
    """True for the first wake request of ``env`` within the interval (rate limit).

    ``cache.add`` is atomic in a shared cache; with the default per-process cache each process
    allows one attempt per interval, and the guarded transition still lets only one resume through.
    """
    return cache.add(f"msx:wake:{env.public_id}", 1, timeout=settings.MICROSTAX_WAKE_MIN_INTERVAL_SECONDS)


def _via_route(request: HttpRequest, env: Environment, service: str | None) -> str | None:
    """The endpoint the request came through, when it came through the environment's route.

    A rewriting ingress passes the original host in ``X-Forwarded-Host``; only an endpoint with that
    host is returned, so a direct request for ``/wake/<id>/`` never learns the environment's address.
    """
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower()
    if not forwarded:
        return None
    rows = env.services.all() if not service else env.services.filter(name=service)
    for row in rows:
        for url in row.endpoints or []:
            if urlsplit(url).netloc.lower() == forwarded:
                return url
    return None


def wake(request: HttpRequest, env_id: str, service: str | None = None, *, target: str | None = None) -> HttpResponse:
    """The waking-up page of one environment (no login: it reveals only the name and the state)."""
    env = Environment.objects.live().select_related("team").filter(public_id=env_id).first()
    if env is None or env.state == EnvironmentState.DELETING:
        raise Http404("no such environment")
    touch_activity(env)  # a request through the endpoints is activity
    if env.state == EnvironmentState.STOPPED and _claim(env):
        try:
            resume_environment(actor=SYSTEM, env=env)
        except Conflict:
            env.refresh_from_db(fields=["state"])  # resumed by someone else meanwhile
        else:
            logger.info("woke %s on a request from %s", env.public_id, request.META.get("REMOTE_ADDR"))
    up = env.state in _UP
    if up:
        location = target or _via_route(request, env, service)
        if location:
            return HttpResponseRedirect(location)
    still = not up and env.state != EnvironmentState.FAILED
    response = render(
        request,
        "environments/wake.html",
        {"name": env.name, "state": env.state, "up": up, "refresh": REFRESH_SECONDS if still else None},
        status=200 if up else 503,
    )
    response["Retry-After"] = str(REFRESH_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


# -- requests that keep the environment's own host (Traefik) ----------------------------------------


def _cluster_domains() -> tuple[str, ...]:
    """The clusters' ingress domains, read at most once a minute per process."""
    global _domains
    read_at, domains = _domains
    if time.monotonic() - read_at > _DOMAINS_TTL:
        found = Cluster.objects.exclude(ingress_domain="").values_list("ingress_domain", flat=True)
        domains = tuple(sorted({d.strip(".").lower() for d in found}, key=len, reverse=True))
        _domains = (time.monotonic(), domains)
    return domains


def resolve_host(host: str) -> tuple[Environment, str] | None:
    """The live environment and exposed service whose route host is ``host``, if any.

    Hosts are ``<service>-<env name>.<domain>``; both parts may hold hyphens, so every split is a
    candidate name, checked against the environment's exposed services (one query).
    """
    host = host.lower().rstrip(".")
    for domain in _cluster_domains():
        if not host.endswith("." + domain):
            continue
        label = host[: -len(domain) - 1]
        if "." in label:
            return None
        parts = label.split("-")
        names = {"-".join(parts[i:]) for i in range(1, len(parts))}
        candidates = (
            Environment.objects.live()
            .filter(cluster__ingress_domain__iexact=domain, name__in=names)
            .select_related("team")
        )
        for env in candidates:
            for service in env.spec.get("services") or []:
                if service.get("expose") and dns_name(service["name"], env.name) == label:
                    return env, service["name"]
        return None
    return None


class WakeHostMiddleware:
    """Serve the wake page for requests addressed to a stopped environment's own host.

    Runs before ``CommonMiddleware`` validates the host: such hosts are not MicroStax's. Requests for
    MicroStax's own hosts pass through untouched, without a query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("HTTP_HOST", "")
        domain, _port = split_domain_port(raw)
        if domain and not self._own(domain):
            found = resolve_host(domain)
            if found is not None:
                env, service = found
                target = f"{request.scheme}://{raw}{request.get_full_path()}"
                return wake(request, env.public_id, service, target=target)
        return self.get_response(request)

    @staticmethod
    def _own(domain: str) -> bool:
        public = (urlsplit(settings.MICROSTAX_PUBLIC_URL).hostname or "").lower()
        allowed = [h for h in settings.ALLOWED_HOSTS if h != "*"]
        return domain == public or validate_host(domain, allowed)

"""The planner's vocabulary in one place: service statuses, reason codes and conflict codes.

Clients switch on these codes, never on message text, so a code, once published, keeps its
meaning. Every value is a plain string in :meth:`Plan.to_dict` output.

Service statuses (:class:`Status`)

============  =========================================================================  ============
status        meaning                                                                     runs where
============  =========================================================================  ============
added         no environment up the chain provides the service                           overlay
changed       an upstream version exists and the overlay's (merged) version differs      overlay
unchanged     inherited as is (also when the overlay lists it without changing it)       provider
removed       the overlay says ``removed: true``                                         nowhere
promoted      unchanged, but pulled into the overlay by a change it depends on           overlay
============  =========================================================================  ============

Reason codes (:class:`ReasonCode`) — each reason is a dict ``{"code": ..., <extra keys>}``:

=====================  ===================================================  ==========================
code                   extra keys                                           given to
=====================  ===================================================  ==========================
NEW_SERVICE            —                                                    added
FIELDS_CHANGED         ``fields`` (dotted, sorted), ``from`` (upstream       changed
                       provider id)
FIELDS_INHERITED       ``fields`` the merge rule filled from upstream,      changed
                       ``from``
PORT_CONTRACT          ``changed`` and ``removed`` ports (each ``{name,     changed
                       port, protocol}``; changed ones add ``now``),
                       ``callers`` (services that call it)
PROMOTED_BY            ``because`` (the local service it calls), ``rule``   promoted
                       (a :class:`PromotionRule`), ``why`` (plain English)
INHERITED              ``from`` (provider environment id)                   unchanged
UNCHANGED_IN_OVERLAY   — (the overlay lists the service but changes         unchanged, promoted
                       nothing: a warning, the listing is redundant)
REMOVED_IN_OVERLAY     ``from`` (the provider it no longer inherits from,    removed
                       or None when nothing upstream had it)
=====================  ===================================================  ==========================

Conflict codes (:class:`ConflictCode`) — any conflict blocks provisioning:

=====================  =======================================================================
code                   when
=====================  =======================================================================
INVALID_CHAIN          the chain is empty, its root is not a baseline, a later link or the new
                       environment is not an overlay, or an environment appears twice
BASE_NOT_READY         an environment of the chain (the parent or an ancestor) is not ``ready``
HEADER_MISMATCH        the overlay's routing header name differs from the baseline's
OVERLAY_ID_MISSING     the overlay has no routing key, so no request could ever select it
OVERLAY_ID_TAKEN       the routing key is already used by a live sibling or an ancestor
MISSING_DEPENDENCY     a service depends on a name no provider has (after removals)
PORT_CONTRACT_BROKEN   a changed service dropped a port (neither its name nor its number is
                       left) that callers which the overlay does not change rely on
CYCLE                  the effective spec's ``dependsOn`` graph has a cycle (named ``a → b → a``)
=====================  =======================================================================
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a service of the overlay's effective spec comes from (see the module table)."""

    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    PROMOTED = "promoted"


#: Statuses whose services run in the overlay's own namespace.
LOCAL_STATUSES = frozenset({Status.ADDED, Status.CHANGED, Status.PROMOTED})


class ReasonCode(StrEnum):
    """Machine-readable reasons attached to each :class:`ServicePlan` (see the module table)."""

    NEW_SERVICE = "NEW_SERVICE"
    FIELDS_CHANGED = "FIELDS_CHANGED"
    FIELDS_INHERITED = "FIELDS_INHERITED"
    PORT_CONTRACT = "PORT_CONTRACT"
    PROMOTED_BY = "PROMOTED_BY"
    INHERITED = "INHERITED"
    UNCHANGED_IN_OVERLAY = "UNCHANGED_IN_OVERLAY"
    REMOVED_IN_OVERLAY = "REMOVED_IN_OVERLAY"


class PromotionRule(StrEnum):
    """Why an unchanged service has to run in the overlay (the ``rule`` of a PROMOTED_BY reason).

    * ``no-header-propagation`` — it calls a local service but drops the routing header, so its
      calls would always land on the upstream version;
    * ``provider-not-routed`` — it propagates the header, but from its provider's namespace the
      service it calls resolves to an intermediate overlay's own copy, and header routers exist
      only in front of the baseline's Services, so the header cannot steer that call;
    * ``port-contract`` — it calls a changed service whose port numbers or names moved; only a
      copy in the overlay namespace sees the new contract while the provider's copy keeps serving
      the old one.
    """

    NO_HEADER_PROPAGATION = "no-header-propagation"
    PROVIDER_NOT_ROUTED = "provider-not-routed"
    PORT_CONTRACT = "port-contract"


class ConflictCode(StrEnum):
    """Blocking problems found before anything is provisioned (see the module table).

    Declared in report order: problems with the chain itself first, then with the services.
    """

    INVALID_CHAIN = "INVALID_CHAIN"
    BASE_NOT_READY = "BASE_NOT_READY"
    HEADER_MISMATCH = "HEADER_MISMATCH"
    OVERLAY_ID_MISSING = "OVERLAY_ID_MISSING"
    OVERLAY_ID_TAKEN = "OVERLAY_ID_TAKEN"
    MISSING_DEPENDENCY = "MISSING_DEPENDENCY"
    PORT_CONTRACT_BROKEN = "PORT_CONTRACT_BROKEN"
    CYCLE = "CYCLE"


#: Position of each conflict code in a report, so conflicts sort the same way every time.
CONFLICT_ORDER = {code: index for index, code in enumerate(ConflictCode)}

"""Environment-app operations: clusters and environments. Views, GraphQL, commands and tasks call
only these."""

from environments.actions.clusters import (
    check_cluster,
    cluster_config,
    cluster_snapshot,
    register_cluster,
    set_cluster_credentials,
)
from environments.actions.lifecycle import (
    create_environment,
    delete_environment,
    extend_ttl,
    not_running,
    reconcile_environment,
    resume_environment,
    retry_environment,
    scale_service,
    set_idle_policy,
    stop_environment,
    touch_activity,
    update_environment,
)
from environments.actions.sparse import (
    OverlayConflict,
    base_named_in,
    chain_of,
    create_overlay,
    plan_isolated,
    plan_overlay,
    promote_environment,
)

__all__ = [
    "OverlayConflict",
    "base_named_in",
    "chain_of",
    "create_overlay",
    "plan_isolated",
    "plan_overlay",
    "promote_environment",
    "check_cluster",
    "cluster_config",
    "cluster_snapshot",
    "create_environment",
    "delete_environment",
    "extend_ttl",
    "not_running",
    "reconcile_environment",
    "register_cluster",
    "resume_environment",
    "retry_environment",
    "scale_service",
    "set_cluster_credentials",
    "set_idle_policy",
    "stop_environment",
    "touch_activity",
    "update_environment",
]

"""The root GraphQL schema: each app's Query, Mutation and Subscription merged into one."""

from __future__ import annotations

import strawberry
from django.conf import settings
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from audit.graphql.schema import Query as AuditQuery
from blueprints.graphql.schema import Mutation as BlueprintMutation
from blueprints.graphql.schema import Query as BlueprintQuery
from environments.graphql.policies import Mutation as PolicyMutation
from environments.graphql.policies import Query as PolicyQuery
from environments.graphql.schema import Mutation as EnvironmentMutation
from environments.graphql.schema import Query as EnvironmentQuery
from environments.graphql.subscriptions import Subscription as EnvironmentSubscription
from microstax.graphql.auditing import AuditDeniedMutations
from microstax.teams.graphql.schema import Mutation as TeamMutation
from microstax.teams.graphql.schema import Query as TeamQuery
from snapshots.graphql.schema import Mutation as SnapshotMutation
from snapshots.graphql.schema import Query as SnapshotQuery

Query = merge_types("Query", (TeamQuery, BlueprintQuery, EnvironmentQuery, PolicyQuery, SnapshotQuery, AuditQuery))
Mutation = merge_types(
    "Mutation", (TeamMutation, BlueprintMutation, EnvironmentMutation, PolicyMutation, SnapshotMutation)
)
Subscription = merge_types("Subscription", (EnvironmentSubscription,))

# The depth and alias limits as validation rules, made once: the validation cache below keys on the
# rules, and each limiter instance would make rule classes of its own.
LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=settings.MICROSTAX_GRAPHQL_MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=settings.MICROSTAX_GRAPHQL_MAX_ALIASES).validation_rules,
)
# Clients send the same few documents over and over (the CLI's, the dashboard's): each distinct text
# is parsed and validated once per process. Bounded, so a stream of distinct documents costs memory
# only up to this many entries.
DOCUMENT_CACHE_SIZE = 256

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(relay_max_results=settings.MICROSTAX_PAGE_SIZE_MAX),
    extensions=[
        DjangoOptimizerExtension,
        AuditDeniedMutations,  # a refused mutation writes one `denied` audit event
        lambda: AddValidationRules(list(LIMIT_RULES)),
        # The parser stops at this many tokens: a huge document costs no more than this to refuse.
        lambda: MaxTokensLimiter(max_token_count=settings.MICROSTAX_GRAPHQL_MAX_TOKENS),
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ],
)

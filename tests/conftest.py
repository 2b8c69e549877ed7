"""Root conftest: fixture modules per app, registered once here."""

pytest_plugins = [
    "tests.fixtures.teams",
    "tests.fixtures.graphql",
    "tests.fixtures.trace",
    "tests.fixtures.blueprints",
    "tests.fixtures.clusters",
]

"""Settings for the test suite: fast hashing, synchronous tasks, in-memory channel layer.

The database comes from ``DATABASE_URL`` like production (SQLite when unset), so the same suite runs
on SQLite and on PostgreSQL.
"""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "microstax-test-secret")

from microstax.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
# A per-process cache even when REDIS_URL is set: counters (sign-in throttling, wake rate limits)
# never carry from one test run into the next; tests that need Redis configure it themselves.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

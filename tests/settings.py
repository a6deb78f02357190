"""The test run's settings: config.settings with DEBUG on, set explicitly (production's
default is off). Set in the environment, so the worker and web processes the tests
start see it too."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from config.settings import *  # noqa: F403

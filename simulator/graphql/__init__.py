"""`POST /graphql`: GitHub's published schema executed over the simulator's dataset.

`schema` loads the vendored SDL, `cost` prices a query as GitHub does (and refuses what
GitHub refuses before running it), `scope`, `views`, `git` and `connection` resolve fields
from the dataset, `endpoint` answers the HTTP request with a points budget per installation.
"""

from .endpoint import GraphQLEndpoint

__all__ = ["GraphQLEndpoint"]

"""The cluster tests share three replicas per broker (see `tests.replica_cluster`)."""

from tests.replica_cluster import cluster, cluster_infra  # noqa: F401 - the fixtures of this folder

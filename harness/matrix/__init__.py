"""`photon-harness matrix run`: the suites as a Kubernetes Indexed Job, one report for all shards."""

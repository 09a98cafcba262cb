# Only registers the harness's pytest plugins; everything else lives in fixtures/.
pytest_plugins = [
    "fixtures.options",
    "fixtures.targets",
    "fixtures.claims",
    "fixtures.procedures",
    "fixtures.inner_images",
    "fixtures.kubernetes",
    "fixtures.nfs",
    "fixtures.distributed_build",
    "fixtures.records",
    "fixtures.reporting",
    "fixtures.reruns",
    "fixtures.sharding",
    "fixtures.cleanup",
]

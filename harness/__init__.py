"""photon-harness: checks that Photon OS behaves as its container documentation says."""

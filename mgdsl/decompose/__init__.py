"""Decomposition: partition a checked system into ATC parts and build their resident subproblems."""

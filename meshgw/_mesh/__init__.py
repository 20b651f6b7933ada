"""Whole-mesh tools: every proxy of one or several meshes (translate-all, sets of peers),
and trace / check with their findings."""

# Intentions take part in every trace and check: importing the module registers its
# codes (MGW100-MGW119) and the destination check trace runs at each sidecar it reaches.
from meshgw._mesh import intentions as _intentions  # noqa: F401

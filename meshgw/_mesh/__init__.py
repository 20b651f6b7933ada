"""Whole-mesh tools: every proxy of one or several meshes (translate-all, sets of peers),
and trace / check with their findings."""

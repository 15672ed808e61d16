"""Small helpers shared by several parts of decon-d2 (seeding, atomic writes, paths, testing)."""

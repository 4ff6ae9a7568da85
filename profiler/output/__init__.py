"""The output side: the collected profile and every format rendered from it."""

"""Training entry points (absl apps)."""

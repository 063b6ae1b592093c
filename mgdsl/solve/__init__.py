"""solve stage of the mgdsl pipeline."""

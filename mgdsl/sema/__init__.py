"""sema stage of the mgdsl pipeline."""

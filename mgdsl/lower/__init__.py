"""lower stage of the mgdsl pipeline."""

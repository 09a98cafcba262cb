"""Target images: recipes under images/, the offline stand-in base, and small probe images."""

"""Reference servers that are not ours, for comparisons."""

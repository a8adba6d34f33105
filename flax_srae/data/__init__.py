"""Data: the datasets, the evaluation protocol, reading images and pixel operations."""

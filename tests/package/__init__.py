"""The package as a whole: its pinned public API, its import contract, the docs' examples."""

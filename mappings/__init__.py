"""Pure ERC models and normalization: no I/O happens in this package."""

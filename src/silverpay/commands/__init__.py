"""Command groups of the `silverpay` CLI, one module each; `silverpay.cli` registers them."""

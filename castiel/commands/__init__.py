"""One module per command group, each with `register(subparsers)`."""

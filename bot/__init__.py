"""The platform-neutral bot core and its platform adapters."""

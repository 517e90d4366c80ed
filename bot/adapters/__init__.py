"""Platform adapters: translate a platform's payloads to core commands and core messages back."""

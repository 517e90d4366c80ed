"""Security suite: authorization, request signatures, secrets in logs, hostile text."""

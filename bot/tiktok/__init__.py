"""TikTok Shop Open API: signing, the HTTP client, shop authorization and the daily sync."""

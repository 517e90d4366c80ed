"""TikTok Shop Seller Center exports: reading, mapping and storing them as the platform's voice."""

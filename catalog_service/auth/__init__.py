"""Authentication: JWT tokens, password hashing, the OAuth2 password flow, rate limits."""

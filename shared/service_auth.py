"""The service credential that the two services share (DESIGN §5)."""

import hmac

SERVICE_KEY_HEADER = "X-Service-Key"


def service_key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the key cannot be guessed byte by byte from timings."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())

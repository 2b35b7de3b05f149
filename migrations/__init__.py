"""One Alembic environment per service (DESIGN §2), each versioned in its own schema."""

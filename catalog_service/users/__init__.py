"""Users: accounts, roles and their own profile."""

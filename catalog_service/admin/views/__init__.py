"""The console's model pages, one module per domain."""

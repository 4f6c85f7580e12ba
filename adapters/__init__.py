"""Platform adapters: all I/O with commerce platforms happens here."""

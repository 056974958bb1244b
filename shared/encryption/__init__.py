"""Payload encryption: the key ring (which keys exist, which one is current) and the AES-256-GCM
payload codec every data converter installs (``shared.data_converter``). See docs/privacy.md."""

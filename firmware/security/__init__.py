# Defaults of the secure channel (security/channel.py) that start-up checks config
# against: here, so that checking them does not load the channel's code on a device
# that is not provisioned and never runs it.
SECURE_PORT = 3611  # TCP
MAX_SESSIONS = 2  # TLS sessions at once, each a slot with its own context made at boot

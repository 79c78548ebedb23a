# The root public keys this firmware trusts for updates: none in the source tree, so a
# build nobody gave a key to accepts no update. `make build ROOT_KEYS=root.key.pub`
# (tools/build.py) ships a generated module in its place with the keys given; see
# docs/updates.md, "Root public keys in the firmware".
ROOTS = ()

# ECHONET Lite, sans-I/O: bytes and time in, frames out. Nothing here opens a socket,
# reads a clock or touches a file, so the same code runs on CPython, the unix port and ESP32.

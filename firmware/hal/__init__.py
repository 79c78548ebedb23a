# The only code that touches sockets, files, the clock, Wi-Fi and pins.

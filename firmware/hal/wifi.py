"""Wi-Fi station bring-up on the board. The password comes from config and is never printed."""
import time


def connect(ssid, password, timeout_s=30):
    """Join `ssid`; return our IPv4 address. Raises OSError after timeout_s."""
    import network

    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    try:
        sta.config(pm=network.WLAN.PM_NONE)  # power save drops multicast on some APs
    except (AttributeError, ValueError, OSError):
        pass
    if not sta.isconnected():
        sta.connect(ssid, password)
        deadline = time.ticks_add(time.ticks_ms(), timeout_s * 1000)
        while not sta.isconnected():
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                sta.active(False)
                raise OSError("Wi-Fi: could not join %r within %d s" % (ssid, timeout_s))
            time.sleep_ms(200)
    return sta.ifconfig()[0]

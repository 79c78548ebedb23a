"""Calendar fields from Unix seconds, by arithmetic alone (no port-specific epoch), and
the setting of the node's clock by a controller (0x97 time, 0x98 date)."""


def civil(now):
    """(year, month, day, hour, minute) of Unix time `now` (UTC, or local if the clock is)."""
    t = int(now)
    days = t // 86400
    secs = t - days * 86400
    # Howard Hinnant's days-from-civil inverse
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y, m, d, secs // 3600, (secs // 60) % 60


def time_edt(now):
    f = civil(now)
    return bytes((f[3], f[4]))


def date_edt(now):
    f = civil(now)
    return bytes((f[0] >> 8, f[0] & 0xFF, f[1], f[2]))


def days(y, m, d):
    """Days from 1970-01-01 to the date (the inverse of civil)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def window(start, end, now):
    """The daily window [start, end) (seconds of day; end before start: it runs past
    midnight) as Unix seconds (start, end): the one running at `now`, else the next."""
    day = now - now % 86400
    s = day + start
    e = day + end
    if e <= s:
        e += 86400
    if now >= e:  # over for today: tomorrow's
        s += 86400
        e += 86400
    elif now < e - 86400:  # still in yesterday's
        s -= 86400
        e -= 86400
    return s, e


def set_to(now, epc, edt):
    """The time `now` becomes when a controller sets 0x97 (HH MM: the time of day, the
    date kept) or 0x98 (YYYY MM DD: the date, the time of day kept); None for a date
    that does not exist (30 February)."""
    secs = now % 86400
    if epc == 0x97:
        return now - secs + edt[0] * 3600 + edt[1] * 60
    y = (edt[0] << 8) | edt[1]
    n = days(y, edt[2], edt[3])
    if civil(n * 86400)[:3] != (y, edt[2], edt[3]):
        return None
    return n * 86400 + secs


def setter(clock):
    """set_time(epc, edt, now) for Node: moves `clock` (hal/clock.Clock); the new time, or
    None when refused."""

    def set_time(epc, edt, now):
        t = set_to(now, epc, edt)
        if t is not None:
            clock.set(t)
        return t

    return set_time

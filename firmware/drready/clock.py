"""Calendar fields from Unix seconds, by arithmetic alone (no port-specific epoch)."""


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

"""The household the simulated appliances share (dr-model.md): its electric load and its
rooftop solar, one byte an hour from 00:00 in units of 10 W (the average in that hour).

The battery's and the EV charger's automatic modes cover the load from solar and storage
(self-consumption); the fuel cell follows the load.
"""

# Electric load: about 13 kWh a day, evening peak 1.2 kW.
LOAD = bytes((30, 25, 25, 25, 25, 30, 50, 90, 70, 45, 40, 40, 50, 40, 40, 40, 50, 80, 110, 120, 110, 90, 70, 45))
# Solar: a 3.5 kW array on a clear mid-season day, about 16 kWh, peak 2.45 kW at noon.
SOLAR = bytes((0, 0, 0, 0, 0, 0, 10, 35, 85, 145, 195, 230, 245, 230, 195, 145, 85, 35, 10, 0, 0, 0, 0, 0))


def hourly(profile, t):
    """Watts of an hourly profile at Unix time t."""
    return profile[(int(t) // 3600) % 24] * 10


def next_hour(t):
    """The start of the hour after t: where a profile may change."""
    return (int(t) // 3600 + 1) * 3600

# The DRready device classes: each an ECHONET Lite object declared as data, the
# appliance interface it drives, and a simulated plant that stands in for the appliance.

"""What runs the rest fast and safely on a machine: CPU speed-ups, devices and hosts, files and locks."""

"""The pure core: values in, values out; no network, disk, database or clock."""

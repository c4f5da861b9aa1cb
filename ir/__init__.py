"""The IR: circuits, gates and symbolic angles, with the errors and resource checks every layer uses."""

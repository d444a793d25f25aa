"""Pure rules of Rotessa-sync: no I/O, no framework imports."""

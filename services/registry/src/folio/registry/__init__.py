"""Folio registry: buildings, units, Beds24 occupancy, bookings, renewals, mortgages, KPIs."""

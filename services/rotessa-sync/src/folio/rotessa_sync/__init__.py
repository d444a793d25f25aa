"""Rotessa-sync: links Rotessa schedules to mortgages and backfills/syncs their payments."""

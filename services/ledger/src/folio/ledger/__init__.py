"""Ledger service: receivables and the double-entry journal."""

"""Local development stack and test harness for Folio (never imported by services)."""

"""Pure webhook rules: verification, wire parsing, dedupe keys, normalization,
emission planning and payment-method settings. No I/O lives here."""

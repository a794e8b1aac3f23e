//! ContraVento-compatible demo target. STUB: replaced by the full implementation.

//! Schedulers (placeholder).

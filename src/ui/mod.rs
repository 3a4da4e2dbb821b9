//! The studio window.

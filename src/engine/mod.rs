//! The background engine thread and its message protocol.

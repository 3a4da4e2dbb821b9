//! The controller: turns actions into engine jobs and background tasks, and
//! engine events / task results into state changes. Nothing here blocks:
//! engine calls are channel sends, everything slow goes to [`crate::ui::background::Background`].
//!
//! - [`events`]: engine events; [`actions`]: what the person asked for;
//! - [`tasks`]: background results and launch-time loads;
//! - [`downloads`]: catalog model downloads;
//! - [`start_image`]: tokens, the decay lens, dropped files;
//! - [`library`]: the library browser.

mod actions;
mod downloads;
mod events;
mod library;
mod start_image;
mod tasks;

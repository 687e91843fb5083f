//! Command-line tools beside `serve`: `publish` sends a command and follows its events.

pub mod publish;

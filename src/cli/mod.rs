//! Command-line tools beside `serve`: `publish` sends a command and follows its events, ending
//! with the exit code of [`outcome`].

pub mod outcome;
pub mod publish;
pub mod settings;

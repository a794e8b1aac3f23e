//! Probe files: raw YAML types, templates, validation, and the compiled [`Plan`].

pub mod accept;
pub mod compile;
pub mod describe;
mod json_path;
pub mod plan;
pub mod raw;
pub mod schema;
mod yaml;

pub use crate::syntax::{error, template};

pub use accept::load_accepted;
pub use compile::{Inputs, VarOverride, load, load_sources, parse_size};
pub use error::{ConfigError, ConfigErrors, Pos};
pub use plan::*;

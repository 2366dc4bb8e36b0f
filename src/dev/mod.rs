//! The embedded development default: what `hookwall run` starts without a config file, and
//! the built-in inspector upstream it forwards to. Production configs never use it.

pub mod embedded;
pub mod inspector;

//! The embedded development default: what `hookwall run` starts without a config file, and
//! the built-in inspector upstream it forwards to. Production configs never use it.

pub(crate) mod embedded;
pub(crate) mod inspector;

//! Where a signing secret comes from (an environment variable or a file) and reading it.

use std::path::{Path, PathBuf};

/// Where a secret is read from. Files are re-read on reload, so a rotated Kubernetes Secret
/// takes effect without a restart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// An environment variable's name.
    Env(String),
    /// A file's path (a mounted Kubernetes Secret).
    File(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A secret's bytes. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub(crate) source: SecretSource,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, [redacted])", self.source)
    }
}

impl Secret {
    /// A secret not read from anywhere (the embedded default's generated development secret).
    pub fn literal(source: SecretSource, bytes: Vec<u8>) -> Secret {
        Secret { source, bytes }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl SecretSource {
    /// Reads the secret. The error says what is wrong and how to fix it, without the value.
    pub(crate) fn read(&self) -> Result<Secret, String> {
        let bytes = match self {
            SecretSource::Env(name) => match std::env::var_os(name) {
                Some(value) => value.into_encoded_bytes(),
                None => {
                    return Err(format!(
                        "environment variable {name} is not set; set it to the signing secret or remove this entry"
                    ));
                }
            },
            SecretSource::File(path) => read_file(path)?,
        };
        if bytes.is_empty() {
            return Err(format!(
                "the {self} is empty; put the signing secret in it or remove this entry"
            ));
        }
        Ok(Secret {
            source: self.clone(),
            bytes,
        })
    }
}

/// Kubernetes Secret files and `echo secret > file` often end in a newline that is not part
/// of the secret, so trailing line breaks are trimmed.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = std::fs::read(path)
        .map_err(|err| format!("cannot read secret file {}: {err}", path.display()))?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_trims_trailing_newlines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b" s3cret \r\n\n").unwrap();
        let secret = SecretSource::File(path).read().unwrap();
        assert_eq!(secret.bytes(), b" s3cret ");
    }

    #[test]
    fn empty_file_secret_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"\n").unwrap();
        let err = SecretSource::File(path.clone()).read().unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = SecretSource::File("/nonexistent/hookwall/secret".into())
            .read()
            .unwrap_err();
        assert!(err.contains("/nonexistent/hookwall/secret"), "{err}");
    }

    #[test]
    fn unset_env_var_names_the_variable() {
        let err = SecretSource::Env("HOOKWALL_TEST_SURELY_UNSET_VARIABLE".into())
            .read()
            .unwrap_err();
        assert!(err.contains("HOOKWALL_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = Secret::literal(SecretSource::Env("X".into()), b"hunter2".to_vec());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}

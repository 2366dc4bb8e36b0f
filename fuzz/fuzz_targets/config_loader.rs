//! Fuzzes the config loader (`Config::from_toml_with_secrets`) with arbitrary text and a
//! fixed secret resolver: it must return a config or an error, never panic, and a config it
//! accepts must never show a secret in its `Debug` output.
#![no_main]

use hookwall::config::{Config, Secret, SecretSource};
use libfuzzer_sys::fuzz_target;

/// Base64 after `whsec_`, so every scheme (standard-webhooks included) accepts it.
const SECRET: &[u8] = b"whsec_RnV6ek1lSWZZb3VDYW4=";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let resolve = |source: &SecretSource| Ok(Secret::literal(source.clone(), SECRET.to_vec()));
    if let Ok(config) = Config::from_toml_with_secrets(text, "fuzz.toml", &resolve) {
        assert!(!config.routes.is_empty());
        for route in &config.routes {
            assert_eq!(route.secrets.len(), route.keys.len());
        }
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("RnV6ek1lSWZZb3VDYW4"),
            "Debug shows a secret"
        );
    }
});

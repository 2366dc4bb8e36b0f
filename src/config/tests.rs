//! Config tests: defaults, the contract's keys, and errors that name the file, key and fix.

use super::*;

/// Resolves every secret to fixed bytes, so tests need no environment or files.
fn fixed_secrets(source: &SecretSource) -> Result<Secret, String> {
    Ok(Secret::literal(source.clone(), b"test-secret".to_vec()))
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_with_secrets(text, "/etc/hookwall/hookwall.toml", &fixed_secrets)
}

fn error_text(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const MINIMAL: &str = r#"
[upstream]
url = "http://127.0.0.1:8080"
[[route]]
path = "/webhooks/visma"
scheme = "visma"
secrets = [{ env = "VISMA_WEBHOOK_SECRET" }]
"#;

#[test]
fn the_contract_example_parses_with_its_values() {
    let config = parse(
        r#"
[server]
listen = "0.0.0.0:8443"
[server.tls]
cert_file = "/etc/hookwall/tls/tls.crt"
key_file  = "/etc/hookwall/tls/tls.key"
[admin]
listen = "0.0.0.0:9090"
[upstream]
url = "http://127.0.0.1:8080"
timeout = "30s"
[limits]
max_body_bytes = 1048576
[[route]]
path = "/webhooks/visma"
scheme = "visma"
secrets = [{ env = "VISMA_WEBHOOK_SECRET" }, { file = "/var/run/secrets/visma/previous" }]
name = "visma-customers"
"#,
    )
    .unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(
        config.server.tls.as_ref().unwrap().cert_file,
        PathBuf::from("/etc/hookwall/tls/tls.crt")
    );
    assert_eq!(config.admin.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(config.upstream.timeout, Duration::from_secs(30));
    assert_eq!(config.limits.max_body_bytes, 1_048_576);
    let route = &config.routes[0];
    assert_eq!(route.name, "visma-customers");
    assert_eq!(route.scheme, Scheme::builtin("visma").unwrap());
    assert_eq!(
        route
            .secrets
            .iter()
            .map(|s| s.source.clone())
            .collect::<Vec<_>>(),
        vec![
            SecretSource::Env("VISMA_WEBHOOK_SECRET".into()),
            SecretSource::File("/var/run/secrets/visma/previous".into())
        ]
    );
    assert_eq!(route.keys.len(), 2);
}

#[test]
fn defaults_apply_when_keys_are_absent() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    assert!(config.server.tls.is_none());
    assert_eq!(config.admin.listen.to_string(), DEFAULT_ADMIN_LISTEN);
    assert_eq!(config.upstream.timeout, DEFAULT_UPSTREAM_TIMEOUT);
    assert_eq!(config.limits.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.server.shutdown_delay, DEFAULT_SHUTDOWN_DELAY);
    assert_eq!(config.server.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
    assert_eq!(config.routes[0].name, "/webhooks/visma");
    assert_eq!(config.routes[0].mode, Mode::Enforce);
    assert!(config.routes[0].dedupe.is_none());
}

#[test]
fn unknown_keys_are_errors_naming_key_and_file() {
    let text = error_text(&format!("{MINIMAL}\n[log]\nformat = \"yaml\"\n"));
    assert!(
        text.contains("expected one of `auto`, `json`, `text`"),
        "{text}"
    );
    let text = error_text(&format!("{MINIMAL}\n[log]\nlevel = \"loud\"\n"));
    assert!(
        text.contains("expected one of `error`, `warn`, `info`, `debug`, `trace`"),
        "{text}"
    );
    let text = error_text(&format!("{MINIMAL}\n[limits]\nmax_body = 5\n"));
    assert!(text.contains("/etc/hookwall/hookwall.toml"), "{text}");
    assert!(text.contains("max_body"), "{text}");

    let text =
        error_text(&MINIMAL.replace("scheme = \"visma\"", "scheme = \"visma\"\nsecret = \"x\""));
    assert!(text.contains("unknown field `secret`"), "{text}");
}

#[test]
fn durations_need_a_unit() {
    let text = error_text(&MINIMAL.replace(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://127.0.0.1:8080\"\ntimeout = \"30\"",
    ));
    assert!(text.contains("invalid duration"), "{text}");
    assert!(text.contains("\"30s\""), "{text}");

    let config = parse(&MINIMAL.replace(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://127.0.0.1:8080\"\ntimeout = \"500ms\"",
    ))
    .unwrap();
    assert_eq!(config.upstream.timeout, Duration::from_millis(500));
}

#[test]
fn secret_errors_name_the_route_key_and_source() {
    let err = Config::from_toml_with_secrets(MINIMAL, "hookwall.toml", &|source| {
        Err(format!("the {source} is empty"))
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("hookwall.toml"), "{err}");
    assert!(err.contains("route[0].secrets[0].env"), "{err}");
    assert!(err.contains("VISMA_WEBHOOK_SECRET"), "{err}");
}

#[test]
fn a_secret_needs_exactly_one_source() {
    let text = error_text(&MINIMAL.replace(
        "{ env = \"VISMA_WEBHOOK_SECRET\" }",
        "{ env = \"A\", file = \"/b\" }",
    ));
    assert!(text.contains("route[0].secrets[0]"), "{text}");
    assert!(text.contains("exactly one"), "{text}");
    let text = error_text(&MINIMAL.replace("secrets = [{ env = \"VISMA_WEBHOOK_SECRET\" }]", ""));
    assert!(text.contains("route[0].secrets"), "{text}");
}

#[test]
fn routes_are_validated() {
    let cases = [
        (
            MINIMAL.replace("scheme = \"visma\"", "scheme = \"vsma\""),
            "route[0].scheme",
        ),
        (
            MINIMAL.replace("/webhooks/visma", "webhooks"),
            "route[0].path",
        ),
        (
            MINIMAL.replace("/webhooks/visma", "/a/../b"),
            "route[0].path",
        ),
        (
            MINIMAL.replace(
                "scheme = \"visma\"",
                "scheme = \"visma\"\ntolerance = \"1m\"",
            ),
            "route[0].tolerance",
        ),
        (
            MINIMAL.replace(
                "scheme = \"visma\"",
                "scheme = \"visma\"\nheader = \"x-sig\"",
            ),
            "route[0].header",
        ),
        (
            MINIMAL.replace("scheme = \"visma\"", "scheme = \"hmac\""),
            "route[0].header",
        ),
        (
            MINIMAL.replace("scheme = \"visma\"", "scheme = \"visma\"\nmode = \"log\""),
            // A value outside a closed set is a parse error: the line with the key, and the
            // values it takes.
            "mode = \"log\"\n  |        ^^^^^\nunknown variant `log`, expected `enforce` or `shadow`",
        ),
        (
            MINIMAL.replace(
                "scheme = \"visma\"",
                "scheme = \"visma\"\nname = \"unmatched\"",
            ),
            "route[0].name",
        ),
        (
            format!(
                "{MINIMAL}{}",
                &MINIMAL[MINIMAL.find("[[route]]").unwrap()..]
            ),
            "route[1].path",
        ),
        (MINIMAL.replace("[[route]]", "[[ignored]]"), "ignored"),
    ];
    for (text, key) in cases {
        let err = error_text(&text);
        assert!(err.contains(key), "expected {key} in: {err}");
    }
}

#[test]
fn route_paths_are_normalised() {
    let config = parse(&MINIMAL.replace("/webhooks/visma", "/webhooks/visma/")).unwrap();
    assert_eq!(config.routes[0].path, "/webhooks/visma");
    let config = parse(&MINIMAL.replace("/webhooks/visma", "/")).unwrap();
    assert_eq!(config.routes[0].path, "/");
}

#[test]
fn upstream_url_must_be_http_host_and_port_or_unix() {
    for (url, fragment) in [
        ("https://127.0.0.1:8080", "only http://"),
        ("http://127.0.0.1", "host and port"),
        ("http://127.0.0.1:8080/base", "has a path"),
        ("unix:relative.sock", "absolute"),
        ("not a url", "not a URL"),
    ] {
        let err = error_text(&MINIMAL.replace("http://127.0.0.1:8080", url));
        assert!(
            err.contains("upstream.url") && err.contains(fragment),
            "{url}: {err}"
        );
    }
    let config =
        parse(&MINIMAL.replace("http://127.0.0.1:8080", "unix:/run/app/app.sock")).unwrap();
    assert_eq!(
        config.upstream.target,
        UpstreamTarget::Unix {
            path: "/run/app/app.sock".into()
        }
    );
}

#[test]
fn missing_upstream_says_what_to_add() {
    let text = error_text(&MINIMAL.replace("[upstream]\nurl = \"http://127.0.0.1:8080\"\n", ""));
    assert!(
        text.contains("`upstream`") && text.contains("[upstream]"),
        "{text}"
    );
}

#[test]
fn generic_hmac_route() {
    let config = parse(&MINIMAL.replace(
        "scheme = \"visma\"",
        "scheme = \"hmac\"\nheader = \"X-Signature\"\nprefix = \"sha512=\"\nencoding = \"hex\"\nalgorithm = \"sha512\"",
    ))
    .unwrap();
    let scheme = &config.routes[0].scheme;
    assert_eq!(scheme.name(), "hmac");
    assert_eq!(
        scheme.spec(),
        Some(&Spec::body_hmac(
            http::HeaderName::from_static("x-signature"),
            "sha512=",
            Algorithm::HmacSha512,
            Encoding::Hex,
        ))
    );
}

#[test]
fn prefix_optional_needs_a_prefix_and_a_custom_scheme() {
    let route = |keys: &str| MINIMAL.replace("scheme = \"visma\"", keys);
    let config = parse(&route(
        "scheme = \"hmac\"\nheader = \"X-Signature\"\nprefix = \"sha256=\"\nprefix_optional = true\nencoding = \"hex\"",
    ))
    .unwrap();
    assert!(matches!(
        &config.routes[0].scheme.spec().unwrap().layout,
        Layout::Whole { prefix, prefix_optional: true } if prefix == "sha256="
    ));
    let text = error_text(&route(
        "scheme = \"hmac\"\nheader = \"X-Signature\"\nprefix_optional = true\nencoding = \"hex\"",
    ));
    assert!(
        text.contains("prefix_optional") && text.contains("only applies with a prefix"),
        "{text}"
    );
    let text = error_text(&route("scheme = \"mollie\"\nprefix_optional = true"));
    assert!(
        text.contains("prefix_optional") && text.contains("only applies to scheme = \"hmac\""),
        "{text}"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let config = parse(MINIMAL).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("test-secret"), "{debug}");
}

#[test]
fn zero_limits_are_refused() {
    for (key, line) in [
        ("limits.max_body_bytes", "max_body_bytes = 0"),
        ("limits.max_connections", "max_connections = 0"),
        ("limits.max_in_flight", "max_in_flight = 0"),
        ("limits.body_read_timeout", "body_read_timeout = \"0s\""),
    ] {
        let err = error_text(&format!("{MINIMAL}\n[limits]\n{line}\n"));
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn load_names_a_missing_file() {
    let err = Config::load(Path::new("/nonexistent/hookwall.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/hookwall.toml"), "{err}");
}

#[test]
fn the_example_config_parses_and_states_the_real_defaults() {
    let example = include_str!("../../deploy/hookwall.example.toml");
    let config = parse(example).expect("deploy/hookwall.example.toml is valid");
    let defaults = parse(MINIMAL).unwrap();
    // The example spells out every default; it must not drift from the code.
    assert_eq!(config.server.listen, defaults.server.listen);
    assert_eq!(config.server.shutdown_delay, defaults.server.shutdown_delay);
    assert_eq!(config.server.shutdown_grace, defaults.server.shutdown_grace);
    assert_eq!(
        config.server.tls_handshake_timeout,
        defaults.server.tls_handshake_timeout
    );
    assert_eq!(
        config.server.header_read_timeout,
        defaults.server.header_read_timeout
    );
    assert_eq!(config.server.idle_timeout, defaults.server.idle_timeout);
    assert_eq!(
        config.server.reload_interval,
        defaults.server.reload_interval
    );
    assert_eq!(config.admin.listen, defaults.admin.listen);
    assert_eq!(config.admin.deliveries, defaults.admin.deliveries);
    assert_eq!(config.upstream, defaults.upstream);
    // Every limit, the new ones included: the example and the code's defaults agree.
    assert_eq!(config.limits, defaults.limits);
    assert_eq!(defaults.limits, crate::config::Limits::default());
    assert_eq!(config.log.format, defaults.log.format);
    assert_eq!(config.log.level, defaults.log.level);
    assert_eq!(config.routes[0].mode, defaults.routes[0].mode);
    assert_eq!(config.dedupe, defaults.dedupe);
}

#[test]
fn route_methods_are_capital_tokens_never_connect_or_trace() {
    let with = |methods: &str| {
        parse(&MINIMAL.replace(
            "scheme = \"visma\"",
            &format!("scheme = \"visma\"\nmethods = {methods}"),
        ))
    };
    let config = with("[\"POST\", \"PUT\", \"POST\"]").unwrap();
    assert_eq!(
        config.routes[0].methods,
        Some(vec![http::Method::POST, http::Method::PUT])
    );
    assert_eq!(parse(MINIMAL).unwrap().routes[0].methods, None);
    for (methods, says) in [
        ("[]", "lists no method"),
        ("[\"post\"]", "in capitals"),
        ("[\"CONNECT\"]", "never forwarded"),
        ("[\"TRACE\"]", "never forwarded"),
    ] {
        let err = with(methods).unwrap_err().to_string();
        assert!(err.contains("methods"), "{methods}: {err}");
        assert!(err.contains(says), "{methods}: {err}");
    }
}

#[test]
fn admin_deliveries_defaults_to_200_turns_off_with_0_and_is_bounded() {
    assert_eq!(parse(MINIMAL).unwrap().admin.deliveries, DEFAULT_DELIVERIES);
    assert_eq!(parse(MINIMAL).unwrap().admin.delivery_body_preview, 0);
    let off = parse(&format!("[admin]\ndeliveries = 0\n{MINIMAL}")).unwrap();
    assert_eq!(off.admin.deliveries, 0);
    let text = error_text(&format!("[admin]\ndeliveries = 1000000\n{MINIMAL}"));
    assert!(text.contains("admin.deliveries"), "{text}");
    assert!(text.contains("/etc/hookwall/hookwall.toml"), "{text}");
}

/// Every described preset can be written by hand: its `Spec::as_toml` form, as a route's
/// own `scheme = "hmac"` keys, parses back to the very same description.
#[test]
fn custom_routes_can_express_every_described_preset() {
    let mut expressed = 0;
    for preset in crate::signature::catalogue::presets() {
        let Some(spec) = preset.spec() else { continue };
        // Alternate header names (Standard Webhooks reading Svix's) are a preset-only extra.
        let spec = Spec {
            alternate: None,
            ..spec.clone()
        };
        let mut route = spec.as_toml();
        if spec.signs_url() {
            route.push_str("public_url = \"https://hooks.example.com/hook\"\n");
        }
        let text = MINIMAL.replace("scheme = \"visma\"", &route);
        let resolve = |_: &SecretSource| {
            // A public key for the public-key presets, any bytes for the rest.
            Ok(Secret::literal(
                SecretSource::Env("X".into()),
                if spec.algorithm.is_public_key() {
                    b"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".to_vec()
                } else if spec.key == KeyForm::Hex {
                    b"00ff".to_vec()
                } else {
                    b"c2VjcmV0".to_vec()
                },
            ))
        };
        let config = match spec.algorithm {
            // The ECDSA key would need a real point; the spec is what is compared.
            Algorithm::EcdsaP256 => {
                let raw: raw::RawConfig = toml::from_str(&text).unwrap();
                let scheme = scheme_from_raw(&raw.routes[0])
                    .unwrap_or_else(|err| panic!("{}: {err:?}\n{route}", preset.name));
                assert_eq!(scheme.spec(), Some(&spec), "{}:\n{route}", preset.name);
                expressed += 1;
                continue;
            }
            _ => Config::from_toml_with_secrets(&text, "test", &resolve)
                .unwrap_or_else(|err| panic!("{}: {err}\n{route}", preset.name)),
        };
        assert_eq!(
            config.routes[0].scheme.spec(),
            Some(&spec),
            "{}:\n{route}",
            preset.name
        );
        expressed += 1;
    }
    assert!(expressed >= 50, "{expressed}");
}

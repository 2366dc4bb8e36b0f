//! The built-in providers: one table of data. Each entry names a provider, its category, the
//! page that documents its scheme, where its secret comes from, and its [`Spec`] (or, for the
//! two whose proof is inside the body, the [`Coded`] check).
//!
//! `hookwall schemes` prints this table and README's scheme table is generated from it
//! (`hookwall schemes --markdown`); a test keeps the README equal to it.

use super::spec::{Algorithm as A, KeyForm as K, Layout, Part, Spec, TimeFormat, Timestamp};
use super::{Coded, Encoding as E, Rules};
use http::HeaderName;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Erp,
    Payments,
    DeveloperTools,
    Communication,
    Commerce,
    Platforms,
}

impl Category {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Category::Erp => "ERP, accounting, CRM",
            Category::Payments => "Payments",
            Category::DeveloperTools => "Developer tools",
            Category::Communication => "Communication",
            Category::Commerce => "Commerce and content",
            Category::Platforms => "Webhook platforms",
        }
    }
}

/// One provider.
#[derive(Debug)]
pub struct Preset {
    /// The `scheme = "..."` name: the provider's lower-case name, hyphenated.
    pub name: &'static str,
    /// Other names that select the same preset (the Atlassian name for Jira, …).
    pub(crate) aliases: &'static [&'static str],
    pub(crate) category: Category,
    /// Where the provider documents its signature.
    pub(crate) docs: &'static str,
    /// Where the secret (or public key) comes from in the provider's UI.
    pub(crate) secret: &'static str,
    /// The timestamp tolerance the provider documents, where it differs from
    /// [`super::DEFAULT_TOLERANCE`]; a route's `tolerance` overrides it.
    pub(crate) tolerance: Option<Duration>,
    rules: Rules,
}

impl Preset {
    /// The same preset with the tolerance its provider documents.
    fn with_tolerance(self, tolerance: Duration) -> Preset {
        Preset {
            tolerance: Some(tolerance),
            ..self
        }
    }

    pub(super) fn rules(&self) -> Rules {
        self.rules.clone()
    }

    pub(crate) fn spec(&self) -> Option<&Spec> {
        match &self.rules {
            Rules::Described(spec) => Some(spec),
            Rules::Coded(_) => None,
        }
    }

    /// The headers a delivery carries (signature, timestamp, id), for listings.
    pub(crate) fn headers(&self) -> String {
        match &self.rules {
            Rules::Coded(Coded::ClientState) => "(body) value[].clientState".into(),
            Rules::Coded(Coded::Mailgun) => "(body) signature.{timestamp,token,signature}".into(),
            Rules::Coded(Coded::Adyen) => {
                "(body) notificationItems[].NotificationRequestItem.additionalData.hmacSignature"
                    .into()
            }
            Rules::Coded(Coded::Contentful) => {
                "x-contentful-signature, x-contentful-timestamp, x-contentful-signed-headers".into()
            }
            Rules::Described(spec) => {
                let mut names: Vec<String> = spec.headers.iter().map(|h| h.to_string()).collect();
                if let Some(header) = spec.timestamp.as_ref().and_then(|t| t.header.as_ref())
                    && !names.contains(&header.to_string())
                {
                    names.push(header.to_string());
                }
                if let Some(id) = &spec.id {
                    names.push(id.to_string());
                }
                names.join(", ")
            }
        }
    }

    /// What is signed, for listings.
    pub(crate) fn signed(&self) -> String {
        match &self.rules {
            Rules::Coded(Coded::ClientState) => "nothing: the body carries the clientState".into(),
            Rules::Coded(Coded::Mailgun) => "timestamp + token (from the body)".into(),
            Rules::Coded(Coded::Adyen) => {
                "hmac-sha256 of pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success, per notification".into()
            }
            Rules::Coded(Coded::Contentful) => {
                "hmac-sha256 of {method}\\n{path}\\n{the signed headers, name:value;…}\\n{body}".into()
            }
            Rules::Described(spec) => {
                let what = spec.describe_signed();
                if spec.algorithm == A::Token {
                    what
                } else {
                    format!("{} of {what}", spec.algorithm.name())
                }
            }
        }
    }

    /// The key's form, for listings.
    pub(crate) fn key(&self) -> &'static str {
        super::Scheme {
            name: Arc::from(self.name),
            rules: self.rules(),
        }
        .key_description()
    }
}

/// Every built-in preset, in the order listed.
pub fn presets() -> &'static [Preset] {
    &PRESETS
}

/// A preset by name or alias.
pub(crate) fn find(name: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|preset| preset.name == name || preset.aliases.contains(&name))
}

/// Every accepted `scheme` name: presets, their aliases, and `hmac`.
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PRESETS
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
        .collect();
    names.push(super::CUSTOM_SCHEME);
    names
}

fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// `<header>: <prefix><signature of the body>`, the most common shape.
fn body(name: &'static str, prefix: &str, algorithm: A, encoding: E) -> Spec {
    Spec::body_hmac(header(name), prefix, algorithm, encoding)
}

/// `v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` with the timestamp in its own header
/// (Slack, and Zoom which copied it).
fn v0_timestamp_colon_body(signature: &'static str, timestamp: &'static str) -> Spec {
    Spec {
        signed: vec![text("v0:"), Part::Timestamp, text(":"), Part::Body],
        timestamp: stamp_header(timestamp, TimeFormat::UnixSeconds),
        ..body(signature, "v0=", A::HmacSha256, E::Hex)
    }
}

/// Base64 HMAC-SHA1 of the public URL followed by each form parameter's name and value,
/// sorted by name (Twilio, and Mandrill which copied it).
fn url_and_sorted_form(name: &'static str) -> Spec {
    Spec {
        signed: vec![Part::Url, Part::SortedFormParams],
        ..body(name, "", A::HmacSha1, E::Base64)
    }
}

/// `<header>: <prefix><token>`, compared with the secret.
fn token(name: &'static str, prefix: &str, encoding: E) -> Spec {
    Spec {
        signed: Vec::new(),
        ..body(name, prefix, A::Token, encoding)
    }
}

/// `<header>: <timestamp_key>=<t><sep><signature_key>=<sig>`, over `signed`.
fn pairs(
    name: &'static str,
    separator: char,
    timestamp_key: Option<&str>,
    signature_key: &str,
    signed: Vec<Part>,
    format: TimeFormat,
) -> Spec {
    Spec {
        layout: Layout::Pairs {
            separator,
            signature_key: signature_key.into(),
            timestamp_key: timestamp_key.map(Into::into),
        },
        signed,
        timestamp: timestamp_key.map(|_| Timestamp {
            header: None,
            format,
        }),
        ..body(name, "", A::HmacSha256, E::Hex)
    }
}

fn text(text: &str) -> Part {
    Part::Text(text.into())
}

fn stamp_header(name: &'static str, format: TimeFormat) -> Option<Timestamp> {
    Some(Timestamp {
        header: Some(header(name)),
        format,
    })
}

/// Standard Webhooks under `prefix-id`, `prefix-timestamp`, `prefix-signature`.
fn standard_webhooks(prefix: &str, version: &str, algorithm: A, key: K) -> Spec {
    let named = |suffix: &str| {
        HeaderName::try_from(format!("{prefix}-{suffix}")).expect("valid header name")
    };
    Spec {
        headers: vec![named("signature")],
        layout: Layout::Versioned {
            version: version.into(),
        },
        signed: vec![
            Part::Header(named("id")),
            text("."),
            Part::Timestamp,
            text("."),
            Part::Body,
        ],
        algorithm,
        encoding: E::Base64,
        key,
        timestamp: Some(Timestamp {
            header: Some(named("timestamp")),
            format: TimeFormat::UnixSeconds,
        }),
        id: Some(named("id")),
        alternate: None,
    }
}

fn with_alternate(spec: Spec, alternate: Spec) -> Spec {
    Spec {
        alternate: Some(Box::new(alternate)),
        ..spec
    }
}

/// A preset: described as data ([`Spec`]) or, where that cannot say it, code ([`Coded`]).
fn preset(
    name: &'static str,
    aliases: &'static [&'static str],
    category: Category,
    docs: &'static str,
    secret: &'static str,
    rules: impl Into<Rules>,
) -> Preset {
    Preset {
        name,
        aliases,
        category,
        docs,
        secret,
        tolerance: None,
        rules: rules.into(),
    }
}

impl From<Spec> for Rules {
    fn from(spec: Spec) -> Rules {
        Rules::Described(Arc::new(spec))
    }
}

impl From<Coded> for Rules {
    fn from(coded: Coded) -> Rules {
        Rules::Coded(coded)
    }
}

/// Twitch and Box: "older than 10 minutes" is their documented limit.
const TEN_MINUTES: Duration = Duration::from_secs(10 * 60);

static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| {
    use Category::*;
    use TimeFormat::*;
    let sha256_b64 = |name| body(name, "", A::HmacSha256, E::Base64);
    let sha256_hex = |name| body(name, "", A::HmacSha256, E::Hex);
    vec![
        // ERP, accounting, CRM.
        preset(
            "visma",
            &[],
            Erp,
            "https://developer.visma.com/api/webhooks",
            "Visma Developer Portal → your application → Webhooks → signing secret",
            sha256_b64("x-vwd-signature-v1"),
        ),
        preset(
            "xero",
            &[],
            Erp,
            "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server",
            "Xero Developer → My Apps → your app → Webhooks → Webhook key",
            sha256_b64("x-xero-signature"),
        ),
        preset(
            "quickbooks",
            &["intuit"],
            Erp,
            "https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications",
            "Intuit Developer → your app → Webhooks → Verifier token",
            sha256_b64("intuit-signature"),
        ),
        preset(
            "hubspot",
            &[],
            Erp,
            "https://developers.hubspot.com/docs/api/webhooks/validating-requests",
            "HubSpot developer account → your app → Auth → Client secret",
            Spec {
                signed: vec![Part::Method, Part::Url, Part::Body, Part::Timestamp],
                timestamp: stamp_header("x-hubspot-request-timestamp", UnixMillis),
                ..sha256_b64("x-hubspot-signature-v3")
            },
        ),
        // Zoho Billing (formerly Subscriptions) documents its signature; Zoho Payments signs
        // differently (below). Zoho CRM sends no signature, only the parameters you add.
        preset(
            "zoho",
            &["zoho-billing", "zoho-subscriptions"],
            Erp,
            "https://www.zoho.com/billing/kb/webhooks/securing-webhooks.html",
            "Zoho Billing → Settings → Automation → Webhooks → webhook → \"I want to secure this webhook\" → Secret Token (you choose it)",
            Spec {
                // The URL's query parameters, sorted, then the raw JSON body. (Zoho sorts
                // the parameters of a form-encoded body together with the query's; send
                // JSON, the default payload.)
                signed: vec![Part::SortedQueryParams, Part::Body],
                ..sha256_hex("x-zoho-webhook-signature")
            },
        ),
        preset(
            "zoho-payments",
            &[],
            Erp,
            "https://www.zoho.com/in/payments/developerdocs/webhooks/verification",
            "Zoho Payments → Settings → Developer Space → Webhooks → signing key",
            Spec {
                // Zoho's timestamp is in milliseconds.
                ..pairs(
                    "x-zoho-webhook-signature",
                    ',',
                    Some("t"),
                    "v",
                    vec![Part::Timestamp, text("."), Part::Body],
                    UnixMillis,
                )
            },
        ),
        Preset {
            name: "business-central",
            aliases: &["microsoft-graph", "dynamics-365"],
            category: Erp,
            docs: "https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-subscriptions",
            secret: "the clientState your app sets when it creates the subscription (POST …/subscriptions)",
            tolerance: None,
            rules: Rules::Coded(Coded::ClientState),
        },
        preset(
            "close",
            &[],
            Erp,
            "https://developer.close.com/topics/webhooks/",
            "the signature_key returned when the webhook subscription is created (hex)",
            Spec {
                headers: vec![header("close-sig-hash")],
                signed: vec![Part::Timestamp, Part::Body],
                timestamp: stamp_header("close-sig-timestamp", UnixSeconds),
                key: K::Hex,
                ..sha256_hex("close-sig-hash")
            },
        ),
        preset(
            "pipedrive",
            &[],
            Erp,
            "https://pipedrive.readme.io/docs/guide-for-webhooks",
            "the http_auth_user:http_auth_password you set on the webhook",
            token("authorization", "Basic ", E::Base64),
        ),
        preset(
            "chargebee",
            &[],
            Erp,
            "https://www.chargebee.com/docs/2.0/webhook_settings.html",
            "Chargebee → Settings → Webhooks → basic authentication user:password",
            token("authorization", "Basic ", E::Base64),
        ),
        // Payments.
        preset(
            "stripe",
            &[],
            Payments,
            "https://docs.stripe.com/webhooks#verify-manually",
            "Stripe Dashboard → Developers → Webhooks → endpoint → Signing secret (whsec_…)",
            pairs(
                "stripe-signature",
                ',',
                Some("t"),
                "v1",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "paddle",
            &[],
            Payments,
            "https://developer.paddle.com/webhooks/signature-verification",
            "Paddle → Developer tools → Notifications → destination → Secret key",
            pairs(
                "paddle-signature",
                ';',
                Some("ts"),
                "h1",
                vec![Part::Timestamp, text(":"), Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "square",
            &[],
            Payments,
            "https://developer.squareup.com/docs/webhooks/step3validate",
            "Square Developer → your app → Webhooks → subscription → Signature key",
            Spec {
                signed: vec![Part::Url, Part::Body],
                ..sha256_b64("x-square-hmacsha256-signature")
            },
        ),
        preset(
            "mollie",
            &[],
            Payments,
            "https://docs.mollie.com/reference/webhooks-best-practices",
            "Mollie Dashboard → Developers → Webhooks (next-gen) → signing secret",
            // Mollie's SDKs (mollie-api-py, -php, -typescript, -golang, -java) strip a
            // leading "sha256=" and compare the hex after it; its docs compare the bare hex.
            Spec {
                layout: Layout::Whole {
                    prefix: "sha256=".into(),
                    prefix_optional: true,
                },
                ..sha256_hex("x-mollie-signature")
            },
        ),
        preset(
            "razorpay",
            &[],
            Payments,
            "https://razorpay.com/docs/webhooks/validate-test/",
            "Razorpay Dashboard → Accounts & Settings → Webhooks → Secret",
            sha256_hex("x-razorpay-signature"),
        ),
        preset(
            "gocardless",
            &[],
            Payments,
            "https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks",
            "GoCardless Dashboard → Developers → Webhook endpoints → Secret",
            sha256_hex("webhook-signature"),
        ),
        // Onfido (now Entrust Identity Verification): X-SHA2-Signature, hex HMAC-SHA256 of the
        // body keyed with the webhook's token, as @onfido/api's WebhookEventVerifier checks it.
        preset(
            "onfido",
            &[],
            Payments,
            "https://documentation.identity.entrust.com/api/manual-webhook-signature-verification/",
            "Onfido Dashboard → Developers → Webhooks → webhook → token (or the token returned when the webhook is registered through the API)",
            sha256_hex("x-sha2-signature"),
        ),
        preset(
            "checkout",
            &["checkout-com"],
            Payments,
            "https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks",
            "Checkout.com Dashboard → Developers → Webhooks → Signature key",
            sha256_hex("cko-signature"),
        ),
        preset(
            "lemon-squeezy",
            &[],
            Payments,
            "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
            "Lemon Squeezy → Settings → Webhooks → Signing secret (you choose it)",
            sha256_hex("x-signature"),
        ),
        preset(
            "coinbase-commerce",
            &[],
            Payments,
            "https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security",
            "Coinbase Commerce → Settings → Notifications → Shared secret",
            sha256_hex("x-cc-webhook-signature"),
        ),
        preset(
            "adyen",
            &[],
            Payments,
            "https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures",
            "Adyen Customer Area → Developers → Webhooks → webhook → Security → HMAC key (hex)",
            Coded::Adyen,
        ),
        preset(
            "adyen-platform",
            &["adyen-balance-platform", "adyen-management"],
            Payments,
            "https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures",
            "Adyen Customer Area → Developers → Webhooks → webhook → Security → HMAC key (hex)",
            Spec {
                key: K::Hex,
                ..sha256_b64("hmacsignature")
            },
        ),
        // Polar signs Standard Webhooks headers, but for endpoints whose secret predates
        // 2026-09-08 the HMAC key is the secret's own UTF-8 bytes, `whsec_` included (Polar's
        // server base64-encodes the string before handing it to standardwebhooks). Secrets
        // generated since are Standard Webhooks keys: use `standard-webhooks` for those.
        preset(
            "polar",
            &[],
            Payments,
            "https://polar.sh/docs/integrate/webhooks/delivery",
            "Polar → organization Settings → Webhooks → endpoint → Secret (whsec_…, generated before 2026-09-08)",
            standard_webhooks("webhook", "v1", A::HmacSha256, K::Utf8),
        ),
        // Developer tools.
        preset(
            "github",
            &[],
            DeveloperTools,
            "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
            "repository or organisation → Settings → Webhooks → Secret (you choose it)",
            body("x-hub-signature-256", "sha256=", A::HmacSha256, E::Hex),
        ),
        preset(
            "gitlab",
            &[],
            DeveloperTools,
            "https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token",
            "project → Settings → Webhooks → Secret token (you choose it); for signed deliveries use gitlab-signed",
            token("x-gitlab-token", "", E::Text),
        ),
        // GitLab's signing token: Standard Webhooks under webhook-* names. A separate preset,
        // not a second way into `gitlab`: a route that also took the plain X-Gitlab-Token
        // would let anyone holding that token past the signature.
        preset(
            "gitlab-signed",
            &[],
            DeveloperTools,
            "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944",
            "project → Settings → Webhooks → Signing token (whsec_…; or signing_token in the hooks API)",
            standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
        ),
        preset(
            "bitbucket",
            &[],
            DeveloperTools,
            "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks",
            "repository → Repository settings → Webhooks → Secret",
            body("x-hub-signature", "sha256=", A::HmacSha256, E::Hex),
        ),
        preset(
            "jira",
            &["atlassian", "confluence"],
            DeveloperTools,
            "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
            "Jira → Settings → System → WebHooks → Secret",
            body("x-hub-signature", "sha256=", A::HmacSha256, E::Hex),
        ),
        preset(
            "linear",
            &[],
            DeveloperTools,
            "https://linear.app/developers/webhooks#securing-webhooks",
            "Linear → Settings → API → Webhooks → webhook → Signing secret",
            sha256_hex("linear-signature"),
        ),
        // WorkOS: `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "<t>.<body>">`, the
        // timestamp in milliseconds; @workos-inc/node refuses one more than 3 minutes off.
        preset(
            "workos",
            &[],
            DeveloperTools,
            "https://workos.com/docs/sso/webhooks",
            "WorkOS Dashboard → Webhooks → endpoint → Webhook Secret",
            pairs(
                "workos-signature",
                ',',
                Some("t"),
                "v1",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixMillis,
            ),
        )
        .with_tolerance(Duration::from_secs(3 * 60)),
        preset(
            "sentry",
            &[],
            DeveloperTools,
            "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#sentry-hook-signature",
            "Sentry → Settings → Custom Integrations → your integration → Client Secret",
            sha256_hex("sentry-hook-signature"),
        ),
        preset(
            "pagerduty",
            &[],
            DeveloperTools,
            "https://developer.pagerduty.com/docs/verifying-webhook-signatures",
            "PagerDuty → Integrations → Generic Webhooks (v3) → subscription → Secret",
            pairs(
                "x-pagerduty-signature",
                ',',
                None,
                "v1",
                vec![Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "circleci",
            &[],
            DeveloperTools,
            "https://circleci.com/docs/webhooks/#validate-webhooks",
            "CircleCI → Project Settings → Webhooks → Secret token (you choose it)",
            pairs(
                "circleci-signature",
                ',',
                None,
                "v1",
                vec![Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "buildkite",
            &[],
            DeveloperTools,
            "https://buildkite.com/docs/apis/webhooks#webhook-signature",
            "Buildkite → Settings → Notification Services → Webhook → Token, with \"signature\" chosen",
            pairs(
                "x-buildkite-signature",
                ',',
                Some("timestamp"),
                "signature",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "vercel",
            &[],
            DeveloperTools,
            "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
            "Vercel → Account/Team Settings → Webhooks → secret shown once at creation",
            body("x-vercel-signature", "", A::HmacSha1, E::Hex),
        ),
        preset(
            "gitea",
            &["forgejo"],
            DeveloperTools,
            "https://docs.gitea.com/usage/webhooks",
            "repository → Settings → Webhooks → Secret",
            sha256_hex("x-gitea-signature"),
        ),
        preset(
            "openai",
            &[],
            DeveloperTools,
            "https://platform.openai.com/docs/guides/webhooks",
            "OpenAI Platform → Settings → Project → Webhooks → endpoint → Signing secret (whsec_…, shown once)",
            standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
        ),
        preset(
            "replicate",
            &[],
            DeveloperTools,
            "https://replicate.com/docs/topics/webhooks/verify-webhook",
            "the key GET /v1/webhooks/default/secret returns (whsec_…; one per user or organization)",
            standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
        ),
        preset(
            "liveblocks",
            &[],
            DeveloperTools,
            "https://liveblocks.io/docs/platform/webhooks",
            "Liveblocks dashboard → project → Webhooks → endpoint → Signing secret (whsec_…)",
            standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
        ),
        // Clerk's deliveries come through Svix under svix-* names only.
        preset(
            "clerk",
            &[],
            DeveloperTools,
            "https://clerk.com/docs/reference/backend/verify-webhook",
            "Clerk Dashboard → Configure → Webhooks → endpoint → Signing Secret (whsec_…)",
            standard_webhooks("svix", "v1", A::HmacSha256, K::Whsec),
        ),
        // Communication.
        preset(
            "slack",
            &[],
            Communication,
            "https://api.slack.com/authentication/verifying-requests-from-slack",
            "api.slack.com/apps → your app → Basic Information → Signing Secret",
            v0_timestamp_colon_body("x-slack-signature", "x-slack-request-timestamp"),
        ),
        preset(
            "twilio",
            &[],
            Communication,
            "https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio",
            "Twilio Console → Account → API keys & tokens → Auth Token",
            url_and_sorted_form("x-twilio-signature"),
        ),
        preset(
            "sendgrid",
            &[],
            Communication,
            "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
            "SendGrid → Settings → Mail Settings → Event Webhook → Signature Verification → Verification Key",
            Spec {
                signed: vec![Part::Timestamp, Part::Body],
                timestamp: stamp_header("x-twilio-email-event-webhook-timestamp", UnixSeconds),
                key: K::PublicKey,
                ..body(
                    "x-twilio-email-event-webhook-signature",
                    "",
                    A::EcdsaP256,
                    E::Base64,
                )
            },
        ),
        Preset {
            name: "mailgun",
            aliases: &[],
            category: Communication,
            docs: "https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks",
            secret: "Mailgun → Sending → Webhooks → HTTP webhook signing key",
            tolerance: None,
            rules: Rules::Coded(Coded::Mailgun),
        },
        preset(
            "discord",
            &[],
            Communication,
            "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
            "Discord Developer Portal → your application → General Information → Public Key",
            Spec {
                signed: vec![Part::Timestamp, Part::Body],
                timestamp: stamp_header("x-signature-timestamp", UnixSeconds),
                key: K::PublicKey,
                ..body("x-signature-ed25519", "", A::Ed25519, E::Hex)
            },
        ),
        preset(
            "zoom",
            &[],
            Communication,
            "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
            "Zoom App Marketplace → your app → Features → Access → Secret Token",
            v0_timestamp_colon_body("x-zm-signature", "x-zm-request-timestamp"),
        ),
        // ElevenLabs: `ElevenLabs-Signature: t=<s>,v0=<hex HMAC-SHA256 of "<t>.<body>">`; its
        // SDKs refuse a timestamp more than 30 minutes old.
        preset(
            "elevenlabs",
            &[],
            Communication,
            "https://elevenlabs.io/docs/product-guides/administration/webhooks",
            "ElevenLabs → Settings → Webhooks → the shared secret shown when the webhook is created",
            pairs(
                "elevenlabs-signature",
                ',',
                Some("t"),
                "v0",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixSeconds,
            ),
        )
        .with_tolerance(Duration::from_secs(30 * 60)),
        preset(
            "intercom",
            &[],
            Communication,
            "https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications",
            "Intercom Developer Hub → your app → Basic information → Client secret",
            body("x-hub-signature", "sha1=", A::HmacSha1, E::Hex),
        ),
        // Pusher Channels: X-Pusher-Signature, hex HMAC-SHA256 of the body with the app secret.
        // X-Pusher-Key names the app's key (token) that signed; hookwall does not require it:
        // the secrets configured are the route's tokens, and a signature only one of them can
        // make already says which one it was. (The `pusher` library also refuses bodies not
        // sent as application/json; Pusher always sends that, and hookwall leaves content
        // checks to the upstream.)
        preset(
            "pusher",
            &[],
            Communication,
            "https://pusher.com/docs/channels/server_api/webhooks/#authentication",
            "Pusher dashboard → Channels → your app → App Keys → secret",
            sha256_hex("x-pusher-signature"),
        ),
        preset(
            "postmark",
            &[],
            Communication,
            "https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
            "the user:password you put in the webhook URL (https://user:password@host/…) in Postmark",
            token("authorization", "Basic ", E::Base64),
        ),
        preset(
            "mandrill",
            &["mailchimp-transactional"],
            Communication,
            "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
            "Mandrill → Settings → Webhooks → Key",
            url_and_sorted_form("x-mandrill-signature"),
        ),
        preset(
            "telegram",
            &[],
            Communication,
            "https://core.telegram.org/bots/api#setwebhook",
            "the secret_token you pass to setWebhook",
            token("x-telegram-bot-api-secret-token", "", E::Text),
        ),
        preset(
            "microsoft-teams",
            &["teams"],
            Communication,
            "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook#create-a-method-to-verify-the-outgoing-webhook-hmac-token",
            "Teams → team → Manage team → Apps → Create an outgoing webhook → security token (base64)",
            Spec {
                key: K::Base64,
                ..body("authorization", "HMAC ", A::HmacSha256, E::Base64)
            },
        ),
        preset(
            "line",
            &[],
            Communication,
            "https://developers.line.biz/en/docs/messaging-api/receiving-messages/#verifying-signatures",
            "LINE Developers Console → channel → Basic settings → Channel secret",
            sha256_b64("x-line-signature"),
        ),
        preset(
            "meta",
            &["whatsapp", "facebook", "instagram"],
            Communication,
            "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications",
            "Meta for Developers → your app → App settings → Basic → App secret",
            body("x-hub-signature-256", "sha256=", A::HmacSha256, E::Hex),
        ),
        // Resend's deliveries come through Svix under svix-* names only.
        preset(
            "resend",
            &[],
            Communication,
            "https://resend.com/docs/webhooks/verify-webhooks-requests",
            "Resend → Webhooks → webhook → Signing Secret (whsec_…)",
            standard_webhooks("svix", "v1", A::HmacSha256, K::Whsec),
        ),
        preset(
            "telnyx",
            &[],
            Communication,
            "https://developers.telnyx.com/docs/development/sdk/python/webhooks",
            "Telnyx Mission Control Portal → Account Settings → Keys & Credentials → Public Key (base64)",
            Spec {
                signed: vec![Part::Timestamp, text("|"), Part::Body],
                timestamp: stamp_header("telnyx-timestamp", UnixSeconds),
                key: K::PublicKey,
                ..body("telnyx-signature-ed25519", "", A::Ed25519, E::Base64)
            },
        ),
        // Commerce and content.
        preset(
            "shopify",
            &[],
            Commerce,
            "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
            "Partner Dashboard → your app → Client credentials → Client secret (or the store's webhook signing key)",
            sha256_b64("x-shopify-hmac-sha256"),
        ),
        // EasyPost: `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256 of the body>`, keyed with
        // the webhook_secret in Unicode NFKD, as every EasyPost client library does. (The raw
        // body is signed as sent, "weight": 136.0 included; @easypost/api re-adds the ".0" only
        // for bodies re-serialised by a framework, EasyPost/easypost-node#467.)
        preset(
            "easypost",
            &[],
            Commerce,
            "https://docs.easypost.com/guides/webhooks-guide#hmac-validation",
            "the webhook_secret you give when you create or update the webhook (EasyPost API or dashboard)",
            Spec {
                key: K::Utf8Nfkd,
                ..body("x-hmac-signature", "hmac-sha256-hex=", A::HmacSha256, E::Hex)
            },
        ),
        preset(
            "woocommerce",
            &[],
            Commerce,
            "https://woocommerce.com/document/webhooks/",
            "WooCommerce → Settings → Advanced → Webhooks → webhook → Secret",
            sha256_b64("x-wc-webhook-signature"),
        ),
        // BigCommerce signs nothing: it sends the headers given when the hook is created,
        // "so destination URIs can be secured with basic authentication".
        preset(
            "bigcommerce",
            &[],
            Commerce,
            "https://developer.bigcommerce.com/docs/integrations/webhooks#security",
            "the user:password you put in the hook's headers as Authorization: Basic … (POST /v3/hooks)",
            token("authorization", "Basic ", E::Base64),
        ),
        preset(
            "contentful",
            &[],
            Commerce,
            "https://www.contentful.com/developers/docs/webhooks/request-verification/",
            "Contentful → space → Settings → Webhooks → Settings → Enable request verification → signing secret",
            Coded::Contentful,
        )
        // node-apps-toolkit's verifyRequest refuses signatures older than 30 s by default.
        .with_tolerance(Duration::from_secs(30)),
        // Sanity (GROQ-powered webhooks): `sanity-webhook-signature: t=<ms>,v1=<base64url, unpadded,
        // HMAC-SHA256 of "<t>.<body>">`. @sanity/webhook checks no age; hookwall keeps its
        // default window.
        preset(
            "sanity",
            &[],
            Commerce,
            "https://www.sanity.io/docs/webhooks",
            "sanity.io/manage → project → API → Webhooks → webhook → Secret (you choose it)",
            Spec {
                encoding: E::Base64Url,
                ..pairs(
                    "sanity-webhook-signature",
                    ',',
                    Some("t"),
                    "v1",
                    vec![Part::Timestamp, text("."), Part::Body],
                    UnixMillis,
                )
            },
        ),
        preset(
            "typeform",
            &[],
            Commerce,
            "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
            "Typeform → form → Connect → Webhooks → Edit → Secret (you choose it)",
            body("typeform-signature", "sha256=", A::HmacSha256, E::Base64),
        ),
        preset(
            "calendly",
            &[],
            Commerce,
            "https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
            "the signing_key you pass when creating the webhook subscription",
            pairs(
                "calendly-webhook-signature",
                ',',
                Some("t"),
                "v1",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixSeconds,
            ),
        )
        // Calendly's guide rejects signatures older than three minutes.
        .with_tolerance(Duration::from_secs(3 * 60)),
        preset(
            "twitch",
            &[],
            Commerce,
            "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
            "the secret you pass when creating the EventSub subscription",
            Spec {
                signed: vec![
                    Part::Header(header("twitch-eventsub-message-id")),
                    Part::Timestamp,
                    Part::Body,
                ],
                timestamp: stamp_header("twitch-eventsub-message-timestamp", Rfc3339),
                id: Some(header("twitch-eventsub-message-id")),
                ..body(
                    "twitch-eventsub-message-signature",
                    "sha256=",
                    A::HmacSha256,
                    E::Hex,
                )
            },
        )
        .with_tolerance(TEN_MINUTES),
        preset(
            "docusign",
            &[],
            Commerce,
            "https://developers.docusign.com/platform/webhooks/connect/validate/",
            "DocuSign Admin → Integrations → Connect → Connect Keys (up to 100; configure several)",
            Spec {
                headers: (1..=5)
                    .map(|n| {
                        HeaderName::try_from(format!("x-docusign-signature-{n}"))
                            .expect("valid header name")
                    })
                    .collect(),
                ..sha256_b64("x-docusign-signature-1")
            },
        ),
        preset(
            "dropbox",
            &[],
            Commerce,
            "https://www.dropbox.com/developers/reference/webhooks#notifications",
            "Dropbox App Console → your app → Settings → App secret",
            sha256_hex("x-dropbox-signature"),
        ),
        preset(
            "box",
            &[],
            Commerce,
            "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
            "Box Developer Console → your app → Webhooks → Manage signature keys (primary and secondary)",
            Spec {
                headers: vec![
                    header("box-signature-primary"),
                    header("box-signature-secondary"),
                ],
                signed: vec![Part::Body, Part::Timestamp],
                timestamp: stamp_header("box-delivery-timestamp", Rfc3339),
                id: Some(header("box-delivery-id")),
                ..sha256_b64("box-signature-primary")
            },
        )
        .with_tolerance(TEN_MINUTES),
        preset(
            "mux",
            &[],
            Commerce,
            "https://docs.mux.com/core/verify-webhook-signatures",
            "Mux Dashboard → Settings → Webhooks → Signing Secret",
            pairs(
                "mux-signature",
                ',',
                Some("t"),
                "v1",
                vec![Part::Timestamp, text("."), Part::Body],
                UnixSeconds,
            ),
        ),
        preset(
            "trello",
            &[],
            Commerce,
            "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures",
            "trello.com/power-ups/admin → your Power-Up → API key → Secret",
            Spec {
                signed: vec![Part::Body, Part::Url],
                ..body("x-trello-webhook", "", A::HmacSha1, E::Base64)
            },
        ),
        preset(
            "asana",
            &[],
            Commerce,
            "https://developers.asana.com/docs/webhooks-guide#security",
            "the X-Hook-Secret Asana sends in the handshake when the webhook is created",
            sha256_hex("x-hook-signature"),
        ),
        preset(
            "notion",
            &[],
            Commerce,
            "https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended",
            "the verification_token Notion posts to the endpoint when the subscription is created",
            body("x-notion-signature", "sha256=", A::HmacSha256, E::Hex),
        ),
        preset(
            "segment",
            &["twilio-segment"],
            Commerce,
            "https://segment.com/docs/connections/destinations/catalog/webhooks/#authentication",
            "Segment → destination (Webhooks) → Settings → Shared Secret",
            body("x-signature", "", A::HmacSha1, E::Hex),
        ),
        preset(
            "airtable",
            &[],
            Commerce,
            "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
            "the macSecretBase64 returned when the webhook is created",
            Spec {
                key: K::Base64,
                ..body(
                    "x-airtable-content-mac",
                    "hmac-sha256=",
                    A::HmacSha256,
                    E::Hex,
                )
            },
        ),
        // Webhook platforms.
        preset(
            "standard-webhooks",
            &[],
            Platforms,
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
            "the sender's endpoint settings → signing secret (whsec_…)",
            with_alternate(
                standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
                standard_webhooks("svix", "v1", A::HmacSha256, K::Whsec),
            ),
        ),
        preset(
            "svix",
            &[],
            Platforms,
            "https://docs.svix.com/receiving/verifying-payloads/how-manual",
            "the sender's dashboard → Webhooks → endpoint → Signing Secret (whsec_…)",
            with_alternate(
                standard_webhooks("svix", "v1", A::HmacSha256, K::Whsec),
                standard_webhooks("webhook", "v1", A::HmacSha256, K::Whsec),
            ),
        ),
        preset(
            "standard-webhooks-ed25519",
            &["svix-v1a"],
            Platforms,
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#asymmetric-signatures",
            "the sender's endpoint settings → public key (whpk_…)",
            with_alternate(
                standard_webhooks("webhook", "v1a", A::Ed25519, K::PublicKey),
                standard_webhooks("svix", "v1a", A::Ed25519, K::PublicKey),
            ),
        ),
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_names_are_unique_lower_case_hyphenated() {
        let mut seen = std::collections::HashSet::new();
        for name in names() {
            assert!(seen.insert(name), "{name} appears twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
        }
        for preset in presets() {
            if let Some(spec) = preset.spec() {
                spec.validate()
                    .unwrap_or_else(|err| panic!("{}: {err:?}", preset.name));
            }
            assert!(preset.docs.starts_with("https://"), "{}", preset.name);
        }
        assert!(presets().len() >= 40, "{} presets", presets().len());
    }
}

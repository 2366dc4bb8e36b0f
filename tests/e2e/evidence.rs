//! What each catalogue preset is checked against. Issue 14 counts a preset only when a test
//! checks it against the provider's official library (installed from PyPI or npm, pinned in
//! tests/support/requirements.txt or package.json, signing or verifying through the running
//! proxy) or against a worked example printed in the provider's documentation (the URL is
//! cited). A "provider SDK vector" is a concrete secret, body and signature from a test in a
//! repository the provider owns (its SDK in another language, its server, its product's own
//! tests), cited by commit: provider-published, but neither an installable library nor
//! documentation, so it is listed apart. "formula" means the only test is
//! tests/e2e/catalogue.rs, which re-implements the provider's documented formula: that shows
//! hookwall agrees with our reading of the docs, not with the provider, and does not count.
//!
//! The table is generated from `EVIDENCE` below and a test keeps the two equal, checks that
//! every preset is listed once and that every library named is pinned.
//!
//! <!-- evidence:start -->
//! | preset | evidence | test |
//! | --- | --- | --- |
//! | visma | formula | |
//! | xero | formula | |
//! | quickbooks | provider SDK vector https://github.com/intuit/QuickBooks-V3-Java-SDK/blob/1324623f8fa65e7ef2b2a4caaf73d6b0a7fafdd3/ipp-v3-java-devkit/src/test/java/com/intuit/ipp/services/WebhooksServiceTest.java | src/signature/tests.rs quickbooks_vector_from_intuits_java_sdk |
//! | hubspot | library hubspot-api-client==12.0.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | zoho | formula | |
//! | zoho-payments | formula | |
//! | business-central | docs example https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-subscriptions#notifications-and-change-types | evidence::business_centrals_documented_sample_notification_is_forwarded_only_with_its_client_state |
//! | close | formula | |
//! | pipedrive | formula | |
//! | chargebee | library chargebee@3.33.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | stripe | library stripe==16.1.0 | schemes::stripe_deliveries_signed_by_stripe_python_are_forwarded_and_forgeries_refused |
//! | paddle | library @paddle/paddle-node-sdk@3.10.0 | catalogue::paddles_library_accepts_the_deliveries_the_paddle_preset_forwards |
//! | square | library squareup==46.0.0.20260916 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | mollie | library mollie-api-py==1.10.20 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | razorpay | library razorpay==2.0.1 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | gocardless | library gocardless-pro==3.22.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | onfido | library @onfido/api@6.2.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | checkout | provider SDK vector https://github.com/checkout/Checkout-SAP-Cloud-Commerce-2105/blob/98b1d5ff15a45f44daefb1c86bef0995e05b4f8b/hybris/bin/modules/checkoutcom/checkoutevents/testsrc/com/checkout/hybris/events/validators/impl/DefaultCheckoutComRequestEventValidatorTest.java | src/signature/tests.rs checkout_vectors_from_its_sap_commerce_plugin |
//! | lemon-squeezy | formula | |
//! | coinbase-commerce | library coinbase-commerce==1.0.1 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | adyen | library @adyen/api-library@32.1.0 | catalogue::adyens_library_and_the_adyen_presets_agree |
//! | adyen | docs example https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures | src/signature/coded/adyen.rs adyens_documented_example_verifies |
//! | adyen-platform | library @adyen/api-library@32.1.0 | catalogue::adyens_library_and_the_adyen_presets_agree |
//! | polar | library @polar-sh/sdk@1.0.1 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | github | library @octokit/webhooks-methods@6.0.0 | schemes::github_deliveries_signed_by_octokit_are_forwarded_and_forgeries_refused |
//! | github | docs example https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation | src/signature/tests.rs github_documented_vector |
//! | gitlab | formula | |
//! | gitlab-signed | library standardwebhooks==1.1.0 | catalogue::gitlab_signed_webhooks_verify_with_the_standard_webhooks_library |
//! | bitbucket | formula | |
//! | jira | formula | |
//! | linear | library @linear/sdk@98.0.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | workos | library @workos-inc/node@12.3.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | sentry | formula | |
//! | pagerduty | provider SDK vector https://github.com/PagerDuty/go-pagerduty/blob/3df5eb4e62dcdf897d37106578d7be6ad54449dc/webhookv3/webhookv3_test.go | src/signature/tests.rs pagerduty_vectors_from_its_go_client |
//! | circleci | formula | |
//! | buildkite | provider SDK vector https://github.com/buildkite/go-buildkite/blob/62b6fcf322c5259e786ac43db46f5c6419617411/webhook_test.go | src/signature/tests.rs buildkite_vector_from_its_go_client |
//! | vercel | formula | |
//! | gitea | formula | |
//! | openai | library openai==3.57.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | replicate | library replicate@1.4.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | liveblocks | library @liveblocks/node@3.24.2 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | clerk | library @clerk/backend@3.25.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | slack | library slack_sdk==3.48.0 | schemes::slack_requests_signed_by_slack_sdk_are_forwarded_and_forgeries_refused |
//! | slack | docs example https://api.slack.com/authentication/verifying-requests-from-slack | src/signature/tests.rs slack_documented_vector |
//! | twilio | library twilio==9.13.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | twilio | docs example https://www.twilio.com/docs/usage/webhooks/webhooks-security | catalogue::twilio_documented_example_verifies_with_public_url_and_query |
//! | sendgrid | library @sendgrid/eventwebhook@8.0.0 | catalogue::public_key_presets_forward_what_the_providers_libraries_accept |
//! | mailgun | library mailgun==1.10.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | discord | library discord-interactions@4.4.0 | catalogue::public_key_presets_forward_what_the_providers_libraries_accept |
//! | zoom | library @zoom/rivet@0.4.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | elevenlabs | library @elevenlabs/elevenlabs-js@2.73.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | intercom | formula | |
//! | pusher | library pusher@5.3.4 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | postmark | formula | |
//! | mandrill | formula | |
//! | telegram | formula | |
//! | microsoft-teams | formula | |
//! | line | library line-bot-sdk==3.27.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | meta | provider SDK vector https://github.com/WhatsApp/WhatsApp-Nodejs-SDK/blob/58ca3d5fceea604e18393734578d9a7944a37b15/src/__tests__/utils.test.ts | src/signature/tests.rs meta_vector_from_the_whatsapp_sdk |
//! | resend | library resend@6.38.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | telnyx | library telnyx@7.24.0 | catalogue::public_key_presets_forward_what_the_providers_libraries_accept |
//! | shopify | library @shopify/shopify-api@13.1.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | easypost | library @easypost/api@8.9.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | woocommerce | provider SDK vector https://github.com/woocommerce/woocommerce/blob/6147c5e685a97beb873ac2548044cf04d2a48a66/plugins/woocommerce/tests/legacy/unit-tests/webhooks/crud.php | src/signature/tests.rs woocommerce_vector_from_its_own_tests |
//! | bigcommerce | formula | |
//! | contentful | library @contentful/node-apps-toolkit@3.16.1 | catalogue::contentfuls_library_and_the_contentful_preset_agree |
//! | sanity | library @sanity/webhook@4.0.4 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | typeform | formula | |
//! | calendly | formula | |
//! | twitch | formula | |
//! | docusign | formula | |
//! | dropbox | formula | |
//! | box | library box-sdk-gen==1.17.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | mux | library @mux/mux-node@15.3.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | trello | formula | |
//! | asana | formula | |
//! | notion | library @notionhq/client@5.26.0 | libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses |
//! | segment | formula | |
//! | airtable | formula | |
//! | standard-webhooks | library standardwebhooks==1.1.0 | schemes::standard_webhooks_signed_by_the_reference_library_are_forwarded_and_forgeries_refused |
//! | svix | library svix==2.9.1 | libraries::the_svix_preset_forwards_what_svixs_library_signs_and_svix_verifies_what_arrived |
//! | standard-webhooks-ed25519 | provider SDK vector https://github.com/svix/svix-webhooks/blob/4fc0cfb8b426c87ef7e2b937e7d896a71d456a47/server/svix-server/src/worker.rs | src/signature/tests.rs standard_webhooks_ed25519_vector_from_svix_server |
//!
//! Presets with an official library or a docs example: 42 of 78.
//! Presets whose only evidence is a provider SDK vector: 7 (quickbooks, checkout, pagerduty, buildkite, meta, woocommerce, standard-webhooks-ed25519).
//! Presets with any of the three: 49 of 78; formula only: 29.
//! <!-- evidence:end -->

use crate::common::RouteSpec;
use crate::common::repo_path;
use crate::delivery::Stage;

/// One piece of evidence for a preset.
enum Evidence {
    /// The provider's library (`name==version` from PyPI, `name@version` from npm) and the
    /// test that runs it.
    Library(&'static str, &'static str),
    /// A worked example printed by the provider (URL) and the test that feeds it to hookwall.
    Example(&'static str, &'static str),
    /// A concrete secret, body and signature from a test in a repository the provider owns
    /// (an SDK in a language hookwall's tests cannot install, its server, its product's own
    /// tests), fed to hookwall's verifier. Provider-published but not documentation: listed
    /// apart so whoever counts can decide.
    Vector(&'static str, &'static str),
}

use Evidence::{Example, Library, Vector};

const LIBRARIES: &str =
    "libraries::providers_libraries_accept_what_hookwall_forwards_and_refuse_what_it_refuses";

/// Every preset, in `hookwall schemes` order, with its evidence; none is formula only.
const EVIDENCE: &[(&str, &[Evidence])] = &[
    ("visma", &[]),
    ("xero", &[]),
    (
        "quickbooks",
        &[Vector(
            "https://github.com/intuit/QuickBooks-V3-Java-SDK/blob/1324623f8fa65e7ef2b2a4caaf73d6b0a7fafdd3/ipp-v3-java-devkit/src/test/java/com/intuit/ipp/services/WebhooksServiceTest.java",
            "src/signature/tests.rs quickbooks_vector_from_intuits_java_sdk",
        )],
    ),
    (
        "hubspot",
        &[Library("hubspot-api-client==12.0.0", LIBRARIES)],
    ),
    // Zoho Billing's help prints the string to sign but no digest: formula only.
    ("zoho", &[]),
    ("zoho-payments", &[]),
    (
        "business-central",
        &[Example(
            "https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-subscriptions#notifications-and-change-types",
            "evidence::business_centrals_documented_sample_notification_is_forwarded_only_with_its_client_state",
        )],
    ),
    ("close", &[]),
    ("pipedrive", &[]),
    ("chargebee", &[Library("chargebee@3.33.0", LIBRARIES)]),
    (
        "stripe",
        &[Library(
            "stripe==16.1.0",
            "schemes::stripe_deliveries_signed_by_stripe_python_are_forwarded_and_forgeries_refused",
        )],
    ),
    (
        "paddle",
        &[Library(
            "@paddle/paddle-node-sdk@3.10.0",
            "catalogue::paddles_library_accepts_the_deliveries_the_paddle_preset_forwards",
        )],
    ),
    ("square", &[Library("squareup==46.0.0.20260916", LIBRARIES)]),
    ("mollie", &[Library("mollie-api-py==1.10.20", LIBRARIES)]),
    ("razorpay", &[Library("razorpay==2.0.1", LIBRARIES)]),
    (
        "gocardless",
        &[Library("gocardless-pro==3.22.0", LIBRARIES)],
    ),
    ("onfido", &[Library("@onfido/api@6.2.0", LIBRARIES)]),
    (
        "checkout",
        &[Vector(
            "https://github.com/checkout/Checkout-SAP-Cloud-Commerce-2105/blob/98b1d5ff15a45f44daefb1c86bef0995e05b4f8b/hybris/bin/modules/checkoutcom/checkoutevents/testsrc/com/checkout/hybris/events/validators/impl/DefaultCheckoutComRequestEventValidatorTest.java",
            "src/signature/tests.rs checkout_vectors_from_its_sap_commerce_plugin",
        )],
    ),
    ("lemon-squeezy", &[]),
    (
        "coinbase-commerce",
        &[Library("coinbase-commerce==1.0.1", LIBRARIES)],
    ),
    (
        "adyen",
        &[
            Library(
                "@adyen/api-library@32.1.0",
                "catalogue::adyens_library_and_the_adyen_presets_agree",
            ),
            Example(
                "https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures",
                "src/signature/coded/adyen.rs adyens_documented_example_verifies",
            ),
        ],
    ),
    (
        "adyen-platform",
        &[Library(
            "@adyen/api-library@32.1.0",
            "catalogue::adyens_library_and_the_adyen_presets_agree",
        )],
    ),
    ("polar", &[Library("@polar-sh/sdk@1.0.1", LIBRARIES)]),
    (
        "github",
        &[
            Library(
                "@octokit/webhooks-methods@6.0.0",
                "schemes::github_deliveries_signed_by_octokit_are_forwarded_and_forgeries_refused",
            ),
            Example(
                "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation",
                "src/signature/tests.rs github_documented_vector",
            ),
        ],
    ),
    ("gitlab", &[]),
    (
        "gitlab-signed",
        &[Library(
            "standardwebhooks==1.1.0",
            "catalogue::gitlab_signed_webhooks_verify_with_the_standard_webhooks_library",
        )],
    ),
    ("bitbucket", &[]),
    ("jira", &[]),
    ("linear", &[Library("@linear/sdk@98.0.0", LIBRARIES)]),
    ("workos", &[Library("@workos-inc/node@12.3.0", LIBRARIES)]),
    ("sentry", &[]),
    (
        "pagerduty",
        &[Vector(
            "https://github.com/PagerDuty/go-pagerduty/blob/3df5eb4e62dcdf897d37106578d7be6ad54449dc/webhookv3/webhookv3_test.go",
            "src/signature/tests.rs pagerduty_vectors_from_its_go_client",
        )],
    ),
    ("circleci", &[]),
    (
        "buildkite",
        &[Vector(
            "https://github.com/buildkite/go-buildkite/blob/62b6fcf322c5259e786ac43db46f5c6419617411/webhook_test.go",
            "src/signature/tests.rs buildkite_vector_from_its_go_client",
        )],
    ),
    ("vercel", &[]),
    ("gitea", &[]),
    ("openai", &[Library("openai==3.57.0", LIBRARIES)]),
    ("replicate", &[Library("replicate@1.4.0", LIBRARIES)]),
    (
        "liveblocks",
        &[Library("@liveblocks/node@3.24.2", LIBRARIES)],
    ),
    ("clerk", &[Library("@clerk/backend@3.25.0", LIBRARIES)]),
    (
        "slack",
        &[
            Library(
                "slack_sdk==3.48.0",
                "schemes::slack_requests_signed_by_slack_sdk_are_forwarded_and_forgeries_refused",
            ),
            Example(
                "https://api.slack.com/authentication/verifying-requests-from-slack",
                "src/signature/tests.rs slack_documented_vector",
            ),
        ],
    ),
    (
        "twilio",
        &[
            Library("twilio==9.13.0", LIBRARIES),
            Example(
                "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
                "catalogue::twilio_documented_example_verifies_with_public_url_and_query",
            ),
        ],
    ),
    (
        "sendgrid",
        &[Library(
            "@sendgrid/eventwebhook@8.0.0",
            "catalogue::public_key_presets_forward_what_the_providers_libraries_accept",
        )],
    ),
    ("mailgun", &[Library("mailgun==1.10.0", LIBRARIES)]),
    (
        "discord",
        &[Library(
            "discord-interactions@4.4.0",
            "catalogue::public_key_presets_forward_what_the_providers_libraries_accept",
        )],
    ),
    ("zoom", &[Library("@zoom/rivet@0.4.0", LIBRARIES)]),
    (
        "elevenlabs",
        &[Library("@elevenlabs/elevenlabs-js@2.73.0", LIBRARIES)],
    ),
    ("intercom", &[]),
    ("pusher", &[Library("pusher@5.3.4", LIBRARIES)]),
    ("postmark", &[]),
    ("mandrill", &[]),
    ("telegram", &[]),
    ("microsoft-teams", &[]),
    ("line", &[Library("line-bot-sdk==3.27.0", LIBRARIES)]),
    (
        "meta",
        &[Vector(
            "https://github.com/WhatsApp/WhatsApp-Nodejs-SDK/blob/58ca3d5fceea604e18393734578d9a7944a37b15/src/__tests__/utils.test.ts",
            "src/signature/tests.rs meta_vector_from_the_whatsapp_sdk",
        )],
    ),
    ("resend", &[Library("resend@6.38.0", LIBRARIES)]),
    (
        "telnyx",
        &[Library(
            "telnyx@7.24.0",
            "catalogue::public_key_presets_forward_what_the_providers_libraries_accept",
        )],
    ),
    (
        "shopify",
        &[Library("@shopify/shopify-api@13.1.0", LIBRARIES)],
    ),
    ("easypost", &[Library("@easypost/api@8.9.0", LIBRARIES)]),
    (
        "woocommerce",
        &[Vector(
            "https://github.com/woocommerce/woocommerce/blob/6147c5e685a97beb873ac2548044cf04d2a48a66/plugins/woocommerce/tests/legacy/unit-tests/webhooks/crud.php",
            "src/signature/tests.rs woocommerce_vector_from_its_own_tests",
        )],
    ),
    // BigCommerce signs nothing; its docs say to secure the hook with basic authentication.
    ("bigcommerce", &[]),
    (
        "contentful",
        &[Library(
            "@contentful/node-apps-toolkit@3.16.1",
            "catalogue::contentfuls_library_and_the_contentful_preset_agree",
        )],
    ),
    ("sanity", &[Library("@sanity/webhook@4.0.4", LIBRARIES)]),
    ("typeform", &[]),
    ("calendly", &[]),
    ("twitch", &[]),
    ("docusign", &[]),
    ("dropbox", &[]),
    ("box", &[Library("box-sdk-gen==1.17.0", LIBRARIES)]),
    ("mux", &[Library("@mux/mux-node@15.3.0", LIBRARIES)]),
    ("trello", &[]),
    ("asana", &[]),
    ("notion", &[Library("@notionhq/client@5.26.0", LIBRARIES)]),
    ("segment", &[]),
    ("airtable", &[]),
    (
        "standard-webhooks",
        &[Library(
            "standardwebhooks==1.1.0",
            "schemes::standard_webhooks_signed_by_the_reference_library_are_forwarded_and_forgeries_refused",
        )],
    ),
    (
        "svix",
        &[Library(
            "svix==2.9.1",
            "libraries::the_svix_preset_forwards_what_svixs_library_signs_and_svix_verifies_what_arrived",
        )],
    ),
    (
        "standard-webhooks-ed25519",
        &[Vector(
            "https://github.com/svix/svix-webhooks/blob/4fc0cfb8b426c87ef7e2b937e7d896a71d456a47/server/svix-server/src/worker.rs",
            "src/signature/tests.rs standard_webhooks_ed25519_vector_from_svix_server",
        )],
    ),
];

/// The markdown table of `EVIDENCE`, as the module comment shows it.
fn table() -> String {
    let mut lines = vec![
        "| preset | evidence | test |".to_string(),
        "| --- | --- | --- |".to_string(),
    ];
    for (preset, evidence) in EVIDENCE {
        if evidence.is_empty() {
            lines.push(format!("| {preset} | formula | |"));
        }
        for item in *evidence {
            lines.push(match item {
                Library(package, test) => format!("| {preset} | library {package} | {test} |"),
                Example(url, test) => format!("| {preset} | docs example {url} | {test} |"),
                Vector(url, test) => format!("| {preset} | provider SDK vector {url} | {test} |"),
            });
        }
    }
    let counted = EVIDENCE
        .iter()
        .filter(|(_, evidence)| {
            evidence
                .iter()
                .any(|item| matches!(item, Library(..) | Example(..)))
        })
        .count();
    let vectors_only: Vec<&str> = EVIDENCE
        .iter()
        .filter(|(_, evidence)| {
            !evidence.is_empty() && evidence.iter().all(|item| matches!(item, Vector(..)))
        })
        .map(|(preset, _)| *preset)
        .collect();
    lines.push(String::new());
    lines.push(format!(
        "Presets with an official library or a docs example: {counted} of {}.",
        EVIDENCE.len()
    ));
    lines.push(format!(
        "Presets whose only evidence is a provider SDK vector: {} ({}).",
        vectors_only.len(),
        vectors_only.join(", ")
    ));
    let formula_only = EVIDENCE.iter().filter(|(_, e)| e.is_empty()).count();
    lines.push(format!(
        "Presets with any of the three: {} of {}; formula only: {formula_only}.",
        EVIDENCE.len() - formula_only,
        EVIDENCE.len()
    ));
    lines.join("\n")
}

/// The table between the markers in this file's module comment.
fn documented_table() -> String {
    let source = std::fs::read_to_string(repo_path("tests/e2e/evidence.rs")).unwrap();
    let lines: Vec<&str> = source
        .lines()
        .skip_while(|line| !line.contains("<!-- evidence:start -->"))
        .skip(1)
        .take_while(|line| !line.contains("<!-- evidence:end -->"))
        .map(|line| line.strip_prefix("//!").unwrap_or(line).trim_start())
        .collect();
    lines.join("\n")
}

#[test]
fn the_evidence_table_covers_every_preset_once_and_names_only_pinned_libraries() {
    assert_eq!(
        documented_table(),
        table(),
        "the table in tests/e2e/evidence.rs's module comment differs from EVIDENCE: paste the \
         right side between the evidence markers"
    );

    let listed: Vec<&str> = EVIDENCE.iter().map(|(preset, _)| *preset).collect();
    let presets: Vec<&str> = hookwall::signature::catalogue::presets()
        .iter()
        .map(|preset| preset.name)
        .collect();
    assert_eq!(
        listed, presets,
        "tests/e2e/evidence.rs: EVIDENCE must list every preset once, in catalogue order"
    );

    let requirements = std::fs::read_to_string(repo_path("tests/support/requirements.txt"))
        .unwrap()
        .to_lowercase();
    let package_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/support/package.json")).unwrap(),
    )
    .unwrap();
    for (preset, evidence) in EVIDENCE {
        for item in *evidence {
            let Library(package, _) = item else { continue };
            if let Some((name, version)) = package.split_once("==") {
                let pin = format!("{}=={version}", name.to_lowercase());
                assert!(
                    requirements.lines().any(|line| line.trim() == pin),
                    "{preset}: {package} is not pinned in tests/support/requirements.txt"
                );
            } else {
                let (name, version) = package.rsplit_once('@').unwrap();
                assert_eq!(
                    package_json["dependencies"][name], *version,
                    "{preset}: {package} is not pinned in tests/support/package.json"
                );
            }
        }
    }

    // Every row of the library test is listed with the very package it runs.
    for row in crate::libraries::rows() {
        let (_, evidence) = EVIDENCE
            .iter()
            .find(|(preset, _)| *preset == row.preset)
            .unwrap();
        assert!(
            evidence
                .iter()
                .any(|item| matches!(item, Library(package, LIBRARIES) if *package == row.package)),
            "{}: EVIDENCE does not name {} with the library test",
            row.preset,
            row.package
        );
    }
}

/// Business Central's documentation prints a sample notification ("Notifications and change
/// types", learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/
/// v2.0/dynamics-subscriptions; the same text is MicrosoftDocs/dynamics365smb-devitpro-pb
/// dev-itpro/api-reference/v2.0/dynamics-subscriptions.md): four notifications, each with
/// `"clientState": "someClientState"`. With that client state configured, hookwall forwards
/// the sample byte for byte; with another, it refuses it.
#[tokio::test]
async fn business_centrals_documented_sample_notification_is_forwarded_only_with_its_client_state()
{
    // Copied from the page, indentation and the stray spaces after the third object included.
    const SAMPLE: &str = r#"{
  "value": [
    {
      "subscriptionId": "webhookItemsId",
      "clientState": "someClientState",
      "expirationDateTime": "2018-10-29T07:52:31Z",
      "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)/items(26814998-936a-401c-81c1-0e848a64971d)",
      "changeType": "updated",
      "lastModifiedDateTime": "2018-10-26T12:54:20.467Z"
    },
    {
      "subscriptionId": "webhookCustomersId",
      "clientState": "someClientState",
      "expirationDateTime": "2018-10-29T12:50:30Z",
      "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)/customers(130bbd17-dbb9-4790-9b12-2b0e9c9d22c3)",
      "changeType": "created",
      "lastModifiedDateTime": "2018-10-26T12:54:26.057Z"
    },
    {
      "subscriptionId": "webhookCustomersId",
      "clientState": "someClientState",
      "expirationDateTime": "2018-10-29T12:50:30Z",
      "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)/customers(4b4f31f0-dc1c-4033-b2aa-ab03ca1d6ebc)",
      "changeType": "deleted",
      "lastModifiedDateTime": "2018-10-26T12:54:30.503Z"
    },    
    {
      "subscriptionId": "salesInvoice",
      "clientState": "someClientState",
      "expirationDateTime": "2018-10-20T10:55:01Z",
      "resource": "/api/v2.0/companies(7dbba574-5f69-4167-a43e-fb975045de15)/salesInvoices?$filter=lastDateTimeModified%20gt%202018-10-15T11:00:00Z",
      "changeType": "collection",
       "lastModifiedDateTime": "2018-10-26T12:54:30.503Z"
    }
  ]
}"#;
    let stage = Stage::start_routes([
        RouteSpec::new("/docs/bc", "business-central").secrets(["someClientState"]),
        RouteSpec::new("/docs/bc-other", "business-central").secrets(["anotherClientState"]),
    ])
    .await;
    stage
        .assert_forwarded("/docs/bc", &[], SAMPLE.as_bytes(), "the documented sample")
        .await;
    stage
        .assert_refused(
            "/docs/bc-other",
            &[],
            SAMPLE.as_bytes(),
            401,
            "bad_signature",
            "the sample against another client state",
        )
        .await;
    // One notification with another client state spoils the batch.
    let spoiled = SAMPLE.replacen(
        "\"clientState\": \"someClientState\"",
        "\"clientState\": \"someClientStatf\"",
        1,
    );
    stage
        .assert_refused(
            "/docs/bc",
            &[],
            spoiled.as_bytes(),
            401,
            "bad_signature",
            "one notification with another client state",
        )
        .await;
}

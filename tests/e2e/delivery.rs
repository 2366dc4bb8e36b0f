//! A hookwall (TLS, in-process, port 0) with routes written for one test, in front of the
//! recording Python upstream; and the two questions every scheme test asks of a delivery:
//! did it arrive byte for byte, or was it refused with the right status, reason and metric
//! without ever reaching the app?

use crate::common::*;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;

/// hookwall and its upstream, started for one test.
pub struct Stage {
    pub recorder: Recorder,
    pub proxy: TestProxy,
}

/// What hookwall answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("{err}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

impl Stage {
    /// Starts the recording upstream, then hookwall as `proxy` describes it, in front of it.
    pub async fn start_with(proxy: ProxyBuilder) -> Stage {
        let recorder = Recorder::start().await;
        let proxy = proxy.upstream(&recorder.url()).start().await;
        Stage { recorder, proxy }
    }

    /// One route per `RouteSpec`, with TLS and the defaults.
    pub async fn start_routes(routes: impl IntoIterator<Item = RouteSpec>) -> Stage {
        let proxy = routes
            .into_iter()
            .fold(TestProxy::builder(), |proxy, route| proxy.route(route));
        Stage::start_with(proxy).await
    }

    /// A POST of `body` to `path_and_query` with exactly `headers` (plus Host).
    pub fn request(
        &self,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Request<Full<Bytes>> {
        let mut builder = Request::post(self.proxy.url(path_and_query))
            .header(
                "host",
                format!("localhost:{}", self.proxy.proxy_addr.port()),
            )
            .header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap()
    }

    /// Sends a delivery over HTTP/1.1 on a new TLS connection.
    pub async fn deliver(
        &self,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Answer {
        self.deliver_with(Protocol::Http1, path_and_query, headers, body)
            .await
    }

    pub async fn deliver_with(
        &self,
        protocol: Protocol,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Answer {
        let request = self.request(path_and_query, headers, body);
        let (status, headers, body) = self
            .proxy
            .send(protocol, request)
            .await
            .unwrap_or_else(|err| panic!("delivery to {path_and_query} failed: {err}"));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Asserts that the delivery is forwarded: the upstream's 200 comes back, the upstream
    /// received exactly `body` with the signature headers unchanged, and `forwarded` counts
    /// it. Returns what the upstream recorded.
    pub async fn assert_forwarded(
        &self,
        route: &str,
        headers: &[(String, String)],
        body: &[u8],
        what: &str,
    ) -> Recorded {
        self.assert_forwarded_with(Protocol::Http1, route, headers, body, what)
            .await
    }

    pub async fn assert_forwarded_with(
        &self,
        protocol: Protocol,
        route: &str,
        headers: &[(String, String)],
        body: &[u8],
        what: &str,
    ) -> Recorded {
        let seen_before = self.recorder.requests().await.len();
        let forwarded_before = self.proxy.requests_total(route, "forwarded");
        let answer = self.deliver_with(protocol, route, headers, body).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(
            self.proxy.requests_total(route, "forwarded"),
            forwarded_before + 1.0,
            "{what}: not counted as forwarded"
        );
        let mut seen = self.recorder.requests().await;
        assert_eq!(seen.len(), seen_before + 1, "{what}: upstream saw {seen:?}");
        let arrived = seen.pop().unwrap();
        assert_eq!(arrived.body(), body, "{what}: body changed on the way");
        for (name, _) in headers {
            let values = |list: &[(String, String)]| -> Vec<String> {
                list.iter()
                    .filter(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.clone())
                    .collect()
            };
            assert_eq!(
                values(&arrived.headers),
                values(headers),
                "{what}: header {name} changed on the way"
            );
        }
        arrived
    }

    /// Asserts that the delivery is refused with `status` and `outcome` (the metric label and
    /// the JSON `error`), counted once, and never reaches the upstream. Returns the JSON.
    pub async fn assert_refused(
        &self,
        route: &str,
        headers: &[(String, String)],
        body: &[u8],
        status: u16,
        outcome: &str,
        what: &str,
    ) -> serde_json::Value {
        let seen_before = self.recorder.requests().await.len();
        let counted_before = self.proxy.requests_total(route, outcome);
        let answer = self.deliver(route, headers, body).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let json = answer.json();
        assert_eq!(json["error"], outcome, "{what}: {json}");
        assert_eq!(
            self.proxy.requests_total(route, outcome),
            counted_before + 1.0,
            "{what}: not counted as {outcome}"
        );
        assert_eq!(
            self.recorder.requests().await.len(),
            seen_before,
            "{what}: reached the upstream"
        );
        json
    }
}

/// One delivery of a table-driven scheme test, and what must come of it.
pub struct Case<'a> {
    what: &'a str,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    protocol: Protocol,
    expect: Expect<'a>,
}

enum Expect<'a> {
    Forwarded,
    /// Refused 401 with this outcome; the JSON's `message` names `mentioning` and its
    /// `reason` is `reason`, when given.
    Refused {
        outcome: &'a str,
        mentioning: Option<&'a str>,
        reason: Option<&'a str>,
    },
}

impl<'a> Case<'a> {
    /// Forwarded byte for byte ([`Stage::assert_forwarded`]).
    pub fn forwarded(
        what: &'a str,
        headers: Vec<(String, String)>,
        body: &'a (impl AsRef<[u8]> + ?Sized),
    ) -> Case<'a> {
        Case {
            what,
            headers,
            body: body.as_ref(),
            protocol: Protocol::Http1,
            expect: Expect::Forwarded,
        }
    }

    /// Refused 401 with `outcome`, never reaching the app ([`Stage::assert_refused`]).
    pub fn refused(
        what: &'a str,
        headers: Vec<(String, String)>,
        body: &'a (impl AsRef<[u8]> + ?Sized),
        outcome: &'a str,
    ) -> Case<'a> {
        Case {
            expect: Expect::Refused {
                outcome,
                mentioning: None,
                reason: None,
            },
            ..Case::forwarded(what, headers, body)
        }
    }

    /// Sent over `protocol` (forwarded cases; refusals are checked over HTTP/1.1).
    pub fn over(mut self, protocol: Protocol) -> Case<'a> {
        self.protocol = protocol;
        self
    }

    /// The refusal's message names `text` (the header that was missing, say).
    pub fn mentioning(mut self, text: &'a str) -> Case<'a> {
        if let Expect::Refused { mentioning, .. } = &mut self.expect {
            *mentioning = Some(text);
        }
        self
    }

    /// The refusal's JSON `reason`.
    pub fn reason(mut self, expected: &'a str) -> Case<'a> {
        if let Expect::Refused { reason, .. } = &mut self.expect {
            *reason = Some(expected);
        }
        self
    }
}

impl Stage {
    /// Sends each case to `route` in order and asserts what came of it.
    pub async fn assert_cases(&self, route: &str, cases: &[Case<'_>]) {
        for case in cases {
            let (headers, body, what) = (&case.headers, case.body, case.what);
            match &case.expect {
                Expect::Forwarded => {
                    self.assert_forwarded_with(case.protocol, route, headers, body, what)
                        .await;
                }
                Expect::Refused {
                    outcome,
                    mentioning,
                    reason,
                } => {
                    let json = self
                        .assert_refused(route, headers, body, 401, outcome, what)
                        .await;
                    if let Some(text) = mentioning {
                        let message = json["message"].as_str().unwrap_or_default();
                        assert!(message.contains(text), "{what}: {json}");
                    }
                    if let Some(reason) = reason {
                        assert_eq!(json["reason"], *reason, "{what}: {json}");
                    }
                }
            }
        }
    }
}

//! The four native ceremony routes, as a client calls them.

use std::fmt;
use std::time::Duration;

use passkeyd_webauthn::json::base64url_decode;
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

/// A ceremony route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    RegistrationRequest,
    RegistrationResponse,
    AuthenticationRequest,
    AuthenticationResponse,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Self::RegistrationRequest => "/webauthn/registration/request",
            Self::RegistrationResponse => "/webauthn/registration/response",
            Self::AuthenticationRequest => "/webauthn/authentication/request",
            Self::AuthenticationResponse => "/webauthn/authentication/response",
        }
    }
}

/// Why a call failed; [`Failure::kind`] is the key errors are counted by.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No HTTP response: connect, timeout, reset.
    Transport { route: Route, error: reqwest::Error },
    /// A non-2xx answer; `code` is the error envelope's `code` when there is one.
    Status {
        route: Route,
        status: StatusCode,
        code: Option<String>,
        body: String,
    },
    /// A 2xx answer that is not what the route promises (or names the wrong user).
    Protocol { route: Route, what: String },
}

impl Failure {
    /// A short, stable key: route, then status and code, or the transport or protocol problem.
    pub(crate) fn kind(&self) -> String {
        match self {
            Self::Transport { route, error } => {
                let what = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect"
                } else if error.is_body() || error.is_decode() {
                    "body"
                } else {
                    "transport"
                };
                format!("{} {what}", route.path())
            }
            Self::Status {
                route,
                status,
                code,
                ..
            } => format!(
                "{} {} {}",
                route.path(),
                status.as_u16(),
                code.as_deref().unwrap_or("-")
            ),
            Self::Protocol { route, what } => format!("{} protocol: {what}", route.path()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport { error, .. } => write!(f, "{}: {error}", self.kind()),
            Self::Status { body, .. } => {
                let body: String = body.chars().take(300).collect();
                write!(f, "{}: {body}", self.kind())
            }
            Self::Protocol { .. } => f.write_str(&self.kind()),
        }
    }
}

/// What a registration request gives the authenticator.
#[derive(Debug)]
pub(crate) struct CreationOptions {
    pub(crate) session: String,
    pub(crate) challenge: Vec<u8>,
    pub(crate) user_handle: Vec<u8>,
    pub(crate) rp_id: Option<String>,
}

/// What an authentication request gives the authenticator.
#[derive(Debug)]
pub(crate) struct RequestOptions {
    pub(crate) session: String,
    pub(crate) challenge: Vec<u8>,
}

/// The server's answer to a finished ceremony: who it was.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Finished {
    pub(crate) user_id: String,
}

/// A client of one server.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: Client,
    base: String,
    api_key: String,
}

impl Api {
    pub(crate) fn new(
        base: &str,
        api_key: &str,
        connections: usize,
        timeout: Duration,
    ) -> reqwest::Result<Self> {
        let client = Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        route: Route,
        body: &Value,
    ) -> Result<T, Failure> {
        let transport = |error| Failure::Transport { route, error };
        let mut request = self
            .client
            .post(format!("{}{}", self.base, route.path()))
            .json(body);
        if !self.api_key.is_empty() {
            request = request.header("x-api-key", &self.api_key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("code")?.as_str().map(str::to_owned));
            return Err(Failure::Status {
                route,
                status,
                code,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| Failure::Protocol {
            route,
            what: format!("unexpected body ({e})"),
        })
    }

    pub(crate) async fn begin_registration(
        &self,
        user_name: &str,
    ) -> Result<CreationOptions, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Begun {
            session: String,
            public_key_credential_creation_options: Options,
        }
        #[derive(Deserialize)]
        struct Options {
            challenge: String,
            user: User,
            rp: Option<Rp>,
        }
        #[derive(Deserialize)]
        struct User {
            id: String,
        }
        #[derive(Deserialize)]
        struct Rp {
            id: Option<String>,
        }
        let route = Route::RegistrationRequest;
        let begun: Begun = self.post(route, &json!({ "userName": user_name })).await?;
        let options = begun.public_key_credential_creation_options;
        Ok(CreationOptions {
            session: begun.session,
            challenge: decode(route, "challenge", &options.challenge)?,
            user_handle: decode(route, "user.id", &options.user.id)?,
            rp_id: options.rp.and_then(|rp| rp.id),
        })
    }

    pub(crate) async fn finish_registration(
        &self,
        session: String,
        credential: Value,
    ) -> Result<Finished, Failure> {
        let body = json!({ "session": session, "publicKeyCredential": credential });
        self.post(Route::RegistrationResponse, &body).await
    }

    /// Starts a sign-in for `user_name`, or a discoverable one when `None`.
    pub(crate) async fn begin_authentication(
        &self,
        user_name: Option<&str>,
    ) -> Result<RequestOptions, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Begun {
            session: String,
            public_key_credential_request_options: Options,
        }
        #[derive(Deserialize)]
        struct Options {
            challenge: String,
        }
        let route = Route::AuthenticationRequest;
        let body = match user_name {
            Some(name) => json!({ "userName": name }),
            None => json!({}),
        };
        let begun: Begun = self.post(route, &body).await?;
        Ok(RequestOptions {
            session: begun.session,
            challenge: decode(
                route,
                "challenge",
                &begun.public_key_credential_request_options.challenge,
            )?,
        })
    }

    pub(crate) async fn finish_authentication(
        &self,
        session: String,
        credential: Value,
    ) -> Result<Finished, Failure> {
        let body = json!({ "session": session, "publicKeyCredential": credential });
        self.post(Route::AuthenticationResponse, &body).await
    }
}

fn decode(route: Route, field: &str, text: &str) -> Result<Vec<u8>, Failure> {
    base64url_decode(text).map_err(|_| Failure::Protocol {
        route,
        what: format!("{field} is not base64url"),
    })
}

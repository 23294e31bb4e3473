//! A user and their software-authenticator credential, and the two ceremonies they go through.

use std::time::{Duration, Instant};

use passkeyd_webauthn::test_util::Credential;
use passkeyd_webauthn::CoseAlgorithm;

use crate::api::{Api, Failure, Route};

/// A registered user, as the load generator remembers them.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) name: String,
    /// The server's `userId`, which every sign-in must name.
    pub(crate) id: String,
    pub(crate) credential: Credential,
}

/// The wall time of a ceremony's two round trips, from the first byte sent to the last received.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// `.../request`: the options and challenge.
    pub(crate) begin: Duration,
    /// The authenticator's work between the two requests (signing; a new key is made earlier,
    /// outside the ceremony, as an authenticator's key generation is not the server's load).
    pub(crate) client: Duration,
    /// `.../response`: the verification.
    pub(crate) finish: Duration,
}

impl Timing {
    pub(crate) fn total(&self) -> Duration {
        self.begin + self.client + self.finish
    }
}

/// Where the software authenticator runs: RP ID and the origin it writes into client data.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    pub(crate) algorithm: CoseAlgorithm,
    pub(crate) origin: String,
    pub(crate) rp_id: String,
}

impl Authenticator {
    /// A new credential (key pair) for a user yet to be registered.
    pub(crate) fn new_credential(&self) -> Credential {
        Credential::new(self.algorithm, self.rp_id.as_str())
    }

    /// Registers `name` with `credential` (made by [`Self::new_credential`]).
    pub(crate) async fn register(
        &self,
        api: &Api,
        name: String,
        mut credential: Credential,
    ) -> Result<(User, Timing), Failure> {
        let start = Instant::now();
        let options = api.begin_registration(&name).await?;
        let begun = Instant::now();
        // The server chooses the user handle; a discoverable sign-in returns it.
        credential.user_handle = options.user_handle;
        if let Some(rp_id) = options.rp_id {
            credential.rp_id = rp_id;
        }
        let response = credential
            .register(&options.challenge, &self.origin)
            .build()
            .to_json();
        let signed = Instant::now();
        let finished = api.finish_registration(options.session, response).await?;
        let end = Instant::now();
        let timing = Timing {
            begin: begun - start,
            client: signed - begun,
            finish: end - signed,
        };
        let user = User {
            name,
            id: finished.user_id,
            credential,
        };
        Ok((user, timing))
    }

    /// Signs `user` in, by name or (`discoverable`) without one; the signature counter goes up by
    /// one on every attempt, so that a retry never replays a count the server saw.
    pub(crate) async fn authenticate(
        &self,
        api: &Api,
        user: &mut User,
        discoverable: bool,
    ) -> Result<Timing, Failure> {
        let start = Instant::now();
        let name = (!discoverable).then_some(user.name.as_str());
        let options = api.begin_authentication(name).await?;
        let begun = Instant::now();
        user.credential.sign_count = user.credential.sign_count.wrapping_add(1);
        let response = user
            .credential
            .assert(&options.challenge, &self.origin)
            .sign_count(user.credential.sign_count)
            .build()
            .to_json();
        let signed = Instant::now();
        let finished = api.finish_authentication(options.session, response).await?;
        let end = Instant::now();
        if finished.user_id != user.id {
            return Err(Failure::Protocol {
                route: Route::AuthenticationResponse,
                what: "signed in as another user".to_owned(),
            });
        }
        Ok(Timing {
            begin: begun - start,
            client: signed - begun,
            finish: end - signed,
        })
    }
}

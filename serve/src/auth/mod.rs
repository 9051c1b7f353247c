//! Who is asking: every route that returns data extracts a [`Reader`], which is the operator
//! (the operator token), platform staff or a tenant (a JWT), or, only when the engine allows
//! anonymous reads, nobody. A tenant's reads are scoped to its company on the server, before
//! any filter of its own.
//!
//! The token comes in `Authorization: Bearer …` or in the `access_token` query parameter
//! (browsers and Unity WebGL cannot set headers on a WebSocket). It is never logged.
//!
//! While the engine follows `twin_auth.user`, a token whose `sub` names a user row is honoured
//! only while that row is active and of the token's company: the served state says so as of
//! its latest commit, and a revoked user's subscriptions are closed.

pub mod jwt;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use twinflow_views::UserCheck;

use crate::error::ApiError;
use crate::AppState;

pub use jwt::{Claims, JwksSource, JwtConfig, Subject, TokenError, TokenVerifier};

/// Who may read, and how they prove it.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// The operator's bearer token: it reads every company and runs the operator routes.
    pub operator_token: Option<String>,
    /// A bearer token that may read `/metrics` (and nothing else), for a scraper.
    pub metrics_token: Option<String>,
    /// Reader tokens (JWTs); `None` accepts none.
    pub jwt: Option<Arc<TokenVerifier>>,
    /// Whether a request without a token reads every company (an engine for development).
    pub anonymous_reads: bool,
    /// The `Origin`s a WebSocket may come from; empty accepts any.
    pub allowed_origins: Vec<String>,
}

impl AuthConfig {
    /// Whether any reader can authenticate (a JWT key or the operator token).
    pub fn has_readers(&self) -> bool {
        self.jwt.is_some() || self.operator_token.is_some()
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The operator token: everything.
    Operator,
    /// Platform staff (a token without a company, with a platform role): every company's rows.
    Platform {
        /// The `twin_auth.user` id the token names, if any.
        user: Option<i64>,
        /// When the token expires (seconds since the epoch).
        exp: u64,
    },
    /// A tenant: its company's rows only.
    Tenant {
        /// The company.
        company: i64,
        /// The `twin_auth.user` id the token names, if any.
        user: Option<i64>,
        /// When the token expires (seconds since the epoch).
        exp: u64,
    },
    /// No token, on an engine that allows anonymous reads: every company's rows.
    Anonymous,
}

impl Reader {
    /// The company the reader is confined to; `None` reads every company.
    pub fn tenant(&self) -> Option<i64> {
        match self {
            Reader::Tenant { company, .. } => Some(*company),
            _ => None,
        }
    }

    /// The `twin_auth.user` the reader's token names.
    pub fn user(&self) -> Option<i64> {
        match self {
            Reader::Tenant { user, .. } | Reader::Platform { user, .. } => *user,
            Reader::Operator | Reader::Anonymous => None,
        }
    }

    /// When the reader's token expires (seconds since the epoch); the operator token and
    /// anonymous readers do not.
    pub fn expires(&self) -> Option<u64> {
        match self {
            Reader::Tenant { exp, .. } | Reader::Platform { exp, .. } => Some(*exp),
            Reader::Operator | Reader::Anonymous => None,
        }
    }

    /// What the request-rate limit counts the reader's requests under.
    pub(crate) fn rate_key(&self) -> RateKey {
        match self {
            Reader::Tenant { company, .. } => RateKey::Company(*company),
            Reader::Platform { .. } => RateKey::Platform,
            Reader::Operator => RateKey::Operator,
            Reader::Anonymous => RateKey::Anonymous,
        }
    }
}

/// The buckets of the request-rate limit: one per tenant, one each for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RateKey {
    Company(i64),
    Platform,
    Operator,
    Anonymous,
}

/// The bearer token of a request: the `Authorization` header, else `access_token` in the
/// query string.
pub(crate) fn bearer_token(parts: &Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    from_header.or_else(|| {
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(name, _)| name == "access_token")
            .map(|(_, value)| value.into_owned())
    })
}

/// Whether `given` is `expected`, compared in constant time.
pub(crate) fn token_is(given: &str, expected: Option<&str>) -> bool {
    expected.is_some_and(|expected| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let reader = authenticate(parts, app).await?;
        app.limits().admit(&reader)?;
        Ok(reader)
    }
}

/// The reader a request's token names (not yet rate-limited).
async fn authenticate(parts: &Parts, app: &AppState) -> Result<Reader, ApiError> {
    let auth = app.auth();
    let Some(token) = bearer_token(parts) else {
        return if auth.anonymous_reads {
            Ok(Reader::Anonymous)
        } else {
            Err(ApiError::Unauthorized(
                "send a token as `Authorization: Bearer <token>` or `?access_token=<token>`",
            ))
        };
    };
    if token_is(&token, auth.operator_token.as_deref()) {
        return Ok(Reader::Operator);
    }
    let Some(verifier) = auth.jwt.clone() else {
        return Err(ApiError::Unauthorized(
            "this engine takes no reader tokens: use the operator token",
        ));
    };
    let claims = match verifier.verified(&token) {
        Some(claims) => claims,
        // A JWKS key may have to be fetched: off the async workers.
        None if verifier.may_fetch(&token) => {
            tokio::task::spawn_blocking(move || verifier.verify(&token))
                .await
                .map_err(|err| ApiError::Internal(format!("token check failed: {err}")))?
                .map_err(ApiError::BadToken)?
        }
        None => verifier.verify(&token).map_err(ApiError::BadToken)?,
    };
    let reader = reader_of(&claims, auth)?;
    if let Some(user) = reader.user() {
        if app.state().check_user(user, reader.tenant()) == UserCheck::Revoked {
            return Err(ApiError::UserRevoked);
        }
    }
    Ok(reader)
}

/// The reader valid `claims` make: a tenant with `company_id`, platform staff without one and
/// with a platform role; anyone else is refused.
fn reader_of(claims: &Claims, auth: &AuthConfig) -> Result<Reader, ApiError> {
    let user = claims.sub.as_ref().and_then(Subject::user_id);
    match claims.company_id {
        Some(company) => Ok(Reader::Tenant {
            company,
            user,
            exp: claims.exp,
        }),
        None => {
            let platform = auth.jwt.as_ref().is_some_and(|jwt| {
                claims
                    .role
                    .as_ref()
                    .is_some_and(|role| jwt.platform_roles().contains(role))
            });
            if platform {
                Ok(Reader::Platform {
                    user,
                    exp: claims.exp,
                })
            } else {
                Err(ApiError::NoTenant)
            }
        }
    }
}

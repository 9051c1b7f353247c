//! Reader tokens: JWTs signed HS256 with a shared secret, or RS256/ES256 with a key of a JWKS.
//!
//! The key decides the algorithm: a token is checked only with the algorithm of the key it
//! names (HS256 for the shared secret; the JWK's own algorithm, or its key type's, for a JWKS
//! key), so a token cannot pick a weaker one, and `alg: none` is never accepted. `exp` is always
//! required; `iss` and `aud` when configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use thiserror::Error;

/// Where the JWKS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A file holding the JWKS document.
    File(PathBuf),
    /// An `http://` or `https://` URL serving it.
    Url(String),
}

impl JwksSource {
    /// A URL when `location` starts with `http://` or `https://`, otherwise a file path.
    pub fn parse(location: &str) -> JwksSource {
        if location.starts_with("http://") || location.starts_with("https://") {
            JwksSource::Url(location.to_owned())
        } else {
            JwksSource::File(PathBuf::from(location))
        }
    }

    /// Reads the key set (blocking: file or network I/O).
    fn fetch(&self) -> Result<JwkSet, String> {
        let text = match self {
            JwksSource::File(path) => std::fs::read_to_string(path)
                .map_err(|err| format!("reading the JWKS file {}: {err}", path.display()))?,
            JwksSource::Url(url) => ureq::get(url)
                .call()
                .and_then(|mut response| response.body_mut().read_to_string())
                .map_err(|err| format!("fetching the JWKS from {url}: {err}"))?,
        };
        serde_json::from_str(&text).map_err(|err| format!("the JWKS does not parse: {err}"))
    }
}

/// How reader tokens are checked.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The HS256 shared secret (`TWINFLOW_JWT_SECRET`).
    pub secret: Option<Vec<u8>>,
    /// The JWKS of RS256/ES256 keys.
    pub jwks: Option<JwksSource>,
    /// How long a fetched JWKS is used before it is fetched again.
    pub jwks_ttl: Duration,
    /// The shortest time between two fetches for tokens naming an unknown `kid`: tokens with
    /// made-up `kid`s must not turn into a flood of fetches.
    pub jwks_refetch_after: Duration,
    /// The required `iss`, when set.
    pub issuer: Option<String>,
    /// The required `aud`, when set.
    pub audience: Option<String>,
    /// The `role` claims that make a token without `company_id` platform staff.
    pub platform_roles: Vec<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: None,
            jwks: None,
            jwks_ttl: Duration::from_secs(300),
            jwks_refetch_after: Duration::from_secs(10),
            issuer: None,
            audience: None,
            platform_roles: vec!["admin".to_owned()],
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, a bad signature, an algorithm the key does not have, or failed claims.
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// No configured key verifies it (no secret, or no JWKS key with its `kid`).
    #[error("no key for this token: {0}")]
    NoKey(String),
}

/// A `sub` claim: JWT libraries write it as a string, NestJS apps often as a number.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Subject {
    /// A number.
    Number(i64),
    /// A string.
    Text(String),
}

impl Subject {
    /// The `twin_auth.user` id it names, if it is one.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Subject::Number(id) => Some(*id),
            Subject::Text(text) => text.parse().ok(),
        }
    }
}

/// The claims twinflow reads.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    /// The user.
    #[serde(default)]
    pub sub: Option<Subject>,
    /// The tenant; absent or null for platform staff.
    #[serde(default)]
    pub company_id: Option<i64>,
    /// The user's role.
    #[serde(default)]
    pub role: Option<String>,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
}

/// The JWKS as last fetched.
struct CachedKeys {
    keys: JwkSet,
    fetched: Instant,
}

/// Checks reader tokens.
pub struct TokenVerifier {
    config: JwtConfig,
    secret: Option<DecodingKey>,
    jwks: Mutex<Option<CachedKeys>>,
    verified: Verified,
}

/// How long a verified token is taken as verified (and no longer than its `exp`): a key
/// removed from the JWKS stops being accepted after this.
pub const VERIFIED_FOR: u64 = 60;
/// Verified tokens remembered at most; past it the memory starts over.
const VERIFIED_AT_MOST: usize = 10_000;

/// Tokens verified lately, by their exact text, with their claims and when they were verified.
#[derive(Default)]
struct Verified(RwLock<HashMap<String, (Arc<Claims>, u64)>>);

impl Verified {
    /// The claims of `token` if it was verified within [`VERIFIED_FOR`] of `now` and has not
    /// expired.
    fn get(&self, token: &str, now: u64) -> Option<Arc<Claims>> {
        let verified = self.0.read().unwrap_or_else(|e| e.into_inner());
        let (claims, at) = verified.get(token)?;
        (now < at + VERIFIED_FOR && now < claims.exp).then(|| claims.clone())
    }

    fn put(&self, token: &str, claims: Arc<Claims>, now: u64) {
        let mut verified = self.0.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_AT_MOST {
            verified.clear();
        }
        verified.insert(token.to_owned(), (claims, now));
    }
}

/// Seconds since the epoch.
fn now_s() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl TokenVerifier {
    /// A verifier for `config`; the JWKS is fetched on first use.
    pub fn new(config: JwtConfig) -> Result<TokenVerifier, TokenError> {
        let secret = match &config.secret {
            Some(secret) if secret.len() < 32 => {
                return Err(TokenError::Invalid(
                    "the HS256 secret must be at least 32 bytes".into(),
                ))
            }
            Some(secret) => Some(
                DecodingKey::from_secret(secret)
                    .map_err(|err| TokenError::Invalid(err.to_string()))?,
            ),
            None => None,
        };
        Ok(TokenVerifier {
            config,
            secret,
            jwks: Mutex::new(None),
            verified: Verified::default(),
        })
    }

    /// The roles that make a token without `company_id` platform staff.
    pub fn platform_roles(&self) -> &[String] {
        &self.config.platform_roles
    }

    /// Whether checking `token` may have to fetch the JWKS (blocking I/O): it names a JWKS key
    /// that is not in a fresh cached set. An HS256 token, or one whose key is cached, is
    /// checked without I/O.
    pub fn may_fetch(&self, token: &str) -> bool {
        if self.config.jwks.is_none() {
            return false;
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        if header.alg == Algorithm::HS256 {
            return false;
        }
        let cache = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        cache.as_ref().is_none_or(|cached| {
            cached.fetched.elapsed() >= self.config.jwks_ttl
                || header
                    .kid
                    .as_deref()
                    .is_none_or(|kid| cached.keys.find(kid).is_none())
        })
    }

    /// Checks `token` and returns its claims. Blocking only when the JWKS must be (re)fetched
    /// (see [`TokenVerifier::may_fetch`]). A token verified in the last [`VERIFIED_FOR`] is
    /// not verified again: a dashboard or a client polling with one token pays for its
    /// signature once, not on every request.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(claims) = self.verified(token) {
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_signed(token)?);
        self.verified.put(token, claims.clone(), now_s());
        Ok(claims)
    }

    /// The claims of `token` if it was verified within [`VERIFIED_FOR`] and has not expired:
    /// what a request checks first, without decoding anything.
    pub fn verified(&self, token: &str) -> Option<Arc<Claims>> {
        self.verified.get(token, now_s())
    }

    /// Checks `token`'s signature and claims.
    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| TokenError::Invalid(err.to_string()))?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => {
                let secret = self
                    .secret
                    .clone()
                    .ok_or_else(|| TokenError::NoKey("no HS256 secret is configured".into()))?;
                (secret, Algorithm::HS256)
            }
            _ => self.jwks_key(header.kid.as_deref())?,
        };
        if header.alg != algorithm {
            return Err(TokenError::Invalid(format!(
                "the token says {:?}, its key is {algorithm:?}",
                header.alg
            )));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        validation.validate_aud = false;
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        if let Some(audience) = &self.config.audience {
            validation.set_audience(&[audience]);
            validation.validate_aud = true;
            validation.required_spec_claims.insert("aud".into());
        }
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(err.to_string()),
            })
    }

    /// The JWKS key named `kid` and its algorithm; an unknown `kid` fetches the set again
    /// (at most every `jwks_refetch_after`), an expired set too.
    fn jwks_key(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), TokenError> {
        let source = self
            .config
            .jwks
            .as_ref()
            .ok_or_else(|| TokenError::NoKey("no JWKS is configured".into()))?;
        let kid = kid.ok_or_else(|| TokenError::Invalid("the token names no `kid`".into()))?;
        let mut cache = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        let stale = cache.as_ref().is_none_or(|cached| {
            let age = cached.fetched.elapsed();
            age >= self.config.jwks_ttl
                || (cached.keys.find(kid).is_none() && age >= self.config.jwks_refetch_after)
        });
        if stale {
            match source.fetch() {
                Ok(keys) => {
                    *cache = Some(CachedKeys {
                        keys,
                        fetched: Instant::now(),
                    })
                }
                // A failed refetch keeps the keys there are.
                Err(err) if cache.is_some() => {
                    tracing::warn!("{err}; using the keys fetched before")
                }
                Err(err) => return Err(TokenError::NoKey(err)),
            }
        }
        let jwk = cache
            .as_ref()
            .and_then(|cached| cached.keys.find(kid))
            .ok_or_else(|| TokenError::NoKey(format!("no JWKS key has kid `{kid}`")))?;
        let algorithm = algorithm_of(jwk)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|err| TokenError::NoKey(err.to_string()))?;
        Ok((key, algorithm))
    }
}

/// The algorithm a JWKS key verifies: RS256 for RSA keys, ES256 for P-256 keys, and only the
/// one its `alg` names when it names one.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, TokenError> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => {
            return Err(TokenError::NoKey(
                "JWKS keys must be RSA (RS256) or P-256 (ES256)".into(),
            ))
        }
    };
    match jwk.common.key_algorithm {
        None => Ok(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Ok(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Ok(by_type),
        Some(other) => Err(TokenError::NoKey(format!(
            "the JWKS key's alg {other:?} is not RS256 or ES256 for its key type"
        ))),
    }
}

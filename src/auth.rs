//! Who may read the API: the `[auth]` section of the configuration file with the environment's
//! secrets, and the per-run tokens of `twinflow demo --auth`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};
use twinflow_serve::auth::{JwksSource, JwtConfig, TokenVerifier};
use twinflow_serve::{AuthConfig, Limits, ServeConfig};

/// The environment variable holding the HS256 secret of reader tokens.
pub const JWT_SECRET_ENV: &str = "TWINFLOW_JWT_SECRET";
/// The environment variable holding the operator token.
pub const OPERATOR_TOKEN_ENV: &str = "TWINFLOW_OPERATOR_TOKEN";
/// The environment variable holding the token that may read `/metrics`.
pub const METRICS_TOKEN_ENV: &str = "TWINFLOW_METRICS_TOKEN";

/// The `[auth]` section of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// The JWKS of RS256/ES256 reader keys: a file path or an `http(s)://` URL.
    pub jwks: Option<String>,
    /// Seconds a fetched JWKS is used before it is fetched again [default: 300].
    pub jwks_ttl_s: Option<u64>,
    /// The `iss` reader tokens must carry.
    pub issuer: Option<String>,
    /// The `aud` reader tokens must carry.
    pub audience: Option<String>,
    /// The `role` claims that make a token without `company_id` platform staff
    /// [default: `["admin"]`].
    pub platform_roles: Option<Vec<String>>,
    /// The browser origins a WebSocket may come from [default: any].
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// The `[limits]` section of the configuration file: the serving limits under abuse.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Requests per second per tenant [default: 100].
    pub requests_per_second: Option<u32>,
    /// The burst of requests a tenant may make at once [default: 200].
    pub request_burst: Option<u32>,
    /// Open subscriptions per tenant [default: 64].
    pub subscriptions_per_tenant: Option<usize>,
    /// Open subscriptions in all [default: 10000].
    pub subscriptions: Option<usize>,
    /// Large renders at once [default: 4].
    pub concurrent_renders: Option<usize>,
}

impl LimitsSection {
    /// The limits, the defaults where the section says nothing.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            requests_per_second: self
                .requests_per_second
                .unwrap_or(defaults.requests_per_second),
            request_burst: self.request_burst.unwrap_or(defaults.request_burst),
            subscriptions_per_tenant: self
                .subscriptions_per_tenant
                .unwrap_or(defaults.subscriptions_per_tenant),
            subscriptions: self.subscriptions.unwrap_or(defaults.subscriptions),
            concurrent_renders: self
                .concurrent_renders
                .unwrap_or(defaults.concurrent_renders),
            ..defaults
        }
    }
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The serving configuration of `twinflow run`: reader tokens from `TWINFLOW_JWT_SECRET` and
/// the `[auth]` section, the operator token, the metrics token. Without any way for a reader
/// to authenticate it refuses, unless `anonymous_reads` allows every request to read every
/// company.
pub fn serve_config(
    section: &AuthSection,
    limits: Limits,
    operator_token: Option<String>,
    anonymous_reads: bool,
) -> anyhow::Result<ServeConfig> {
    let secret = env(JWT_SECRET_ENV).map(String::into_bytes);
    let jwt = (secret.is_some() || section.jwks.is_some())
        .then(|| {
            let defaults = JwtConfig::default();
            TokenVerifier::new(JwtConfig {
                secret,
                jwks: section.jwks.as_deref().map(JwksSource::parse),
                jwks_ttl: section
                    .jwks_ttl_s
                    .map_or(defaults.jwks_ttl, Duration::from_secs),
                issuer: section.issuer.clone(),
                audience: section.audience.clone(),
                platform_roles: section
                    .platform_roles
                    .clone()
                    .unwrap_or(defaults.platform_roles),
                ..defaults
            })
            .map(Arc::new)
            .with_context(|| format!("the reader-token settings ({JWT_SECRET_ENV}, [auth])"))
        })
        .transpose()?;
    let auth = AuthConfig {
        operator_token,
        metrics_token: env(METRICS_TOKEN_ENV),
        jwt,
        anonymous_reads,
        allowed_origins: section.allowed_origins.clone(),
    };
    if !auth.has_readers() && !anonymous_reads {
        anyhow::bail!(
            "no reader can authenticate: set {JWT_SECRET_ENV} (HS256), `jwks` in [auth] \
             (RS256/ES256) or {OPERATOR_TOKEN_ENV}; or pass --allow-anonymous-reads to let \
             every request read every company"
        );
    }
    if anonymous_reads {
        tracing::warn!(
            "anonymous reads are allowed: a request without a token reads every company's rows"
        );
    }
    Ok(ServeConfig { auth, limits })
}

/// The claims of a token `twinflow demo --auth` hands out.
#[derive(Serialize)]
struct DemoClaims<'a> {
    sub: &'a str,
    company_id: Option<i64>,
    role: &'a str,
    exp: u64,
}

/// A per-run HS256 setup for `twinflow demo --auth`: the serving configuration and two tokens
/// valid for a day, one for company 1 and one for platform staff.
pub struct DemoAuth {
    /// What the API is served with.
    pub config: ServeConfig,
    /// A token that reads company 1.
    pub tenant_token: String,
    /// A token that reads every company.
    pub platform_token: String,
}

impl DemoAuth {
    /// A fresh secret and its tokens.
    pub fn new(operator_token: Option<String>) -> anyhow::Result<DemoAuth> {
        let secret: [u8; 32] = rand::random();
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs()
            + 24 * 3600;
        let key = EncodingKey::from_secret(&secret).context("the demo's signing key")?;
        let sign = |claims: &DemoClaims| {
            jsonwebtoken::encode(&Header::default(), claims, &key).context("signing a demo token")
        };
        let tenant_token = sign(&DemoClaims {
            sub: "demo-tenant",
            company_id: Some(1),
            role: "viewer",
            exp,
        })?;
        let platform_token = sign(&DemoClaims {
            sub: "demo-platform",
            company_id: None,
            role: "admin",
            exp,
        })?;
        let verifier = TokenVerifier::new(JwtConfig {
            secret: Some(secret.to_vec()),
            ..JwtConfig::default()
        })
        .context("the demo's token settings")?;
        let config = ServeConfig {
            auth: AuthConfig {
                operator_token,
                jwt: Some(Arc::new(verifier)),
                ..AuthConfig::default()
            },
            limits: Limits::default(),
        };
        Ok(DemoAuth {
            config,
            tenant_token,
            platform_token,
        })
    }
}

//! Reader tokens signed with JWKS keys: RS256 and ES256 from a file or a URL, the key deciding
//! the algorithm, and a rotated key found by fetching the set again.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use twinflow_serve::auth::{JwksSource, JwtConfig, TokenError, TokenVerifier};

fn keys(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A token for company 5, signed with `algorithm` by the PEM key `pem`, naming `kid`.
fn token(algorithm: Algorithm, kid: &str, pem: &str) -> String {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(keys(pem).as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(keys(pem).as_bytes()),
        other => panic!("no test key for {other:?}"),
    }
    .expect("a test key");
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 600;
    let claims = json!({"sub": 3, "company_id": 5, "exp": exp});
    jsonwebtoken::encode(&header, &claims, &key).expect("signs")
}

fn verifier(jwks: JwksSource) -> TokenVerifier {
    TokenVerifier::new(JwtConfig {
        jwks: Some(jwks),
        jwks_refetch_after: Duration::ZERO,
        ..JwtConfig::default()
    })
    .expect("a verifier")
}

#[test]
fn rs256_and_es256_tokens_verify_with_their_jwks_keys_and_no_other_algorithm() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, keys("jwks.json")).expect("writes");
    let verifier = verifier(JwksSource::File(file.clone()));

    let rsa = verifier
        .verify(&token(Algorithm::RS256, "rsa-1", "rsa.pem"))
        .expect("an RS256 token");
    assert_eq!(rsa.company_id, Some(5));
    let ec = verifier
        .verify(&token(Algorithm::ES256, "ec-1", "ec.pem"))
        .expect("an ES256 token");
    assert_eq!(ec.company_id, Some(5));

    // The token cannot choose another algorithm than its key's.
    let refused = verifier.verify(&token(Algorithm::ES256, "rsa-1", "ec.pem"));
    assert!(
        matches!(refused, Err(TokenError::Invalid(_))),
        "{refused:?}"
    );
    // Signed by a key the set does not publish under that kid.
    let refused = verifier.verify(&token(Algorithm::RS256, "rsa-1", "rsa-rotated.pem"));
    assert!(
        matches!(refused, Err(TokenError::Invalid(_))),
        "{refused:?}"
    );
    // HS256 with no shared secret configured: no key, whatever it names.
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some("rsa-1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &json!({"company_id": 5, "exp": 4_000_000_000u64}),
        &EncodingKey::from_secret(keys("jwks.json").as_bytes()).expect("a key"),
    )
    .expect("signs");
    assert!(matches!(verifier.verify(&hs), Err(TokenError::NoKey(_))));

    // A rotated key: unknown at first, found once the set is fetched again.
    let rotated = token(Algorithm::RS256, "rsa-2", "rsa-rotated.pem");
    assert!(matches!(
        verifier.verify(&rotated),
        Err(TokenError::NoKey(_))
    ));
    std::fs::write(&file, keys("jwks-rotated.json")).expect("rotates");
    verifier
        .verify(&rotated)
        .expect("the rotated key is fetched");
}

/// A one-request-at-a-time HTTP server of `body` on loopback; the number of requests it
/// answered is read back from the returned handle when it is stopped.
fn serve_jwks(body: String, requests: usize) -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    let handle = std::thread::spawn(move || {
        let mut answered = 0;
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.expect("a connection");
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).expect("a request");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).expect("answers");
            answered += 1;
        }
        answered
    });
    (url, handle)
}

#[test]
fn a_jwks_url_is_fetched_once_and_cached() {
    let (url, server) = serve_jwks(keys("jwks.json"), 1);
    let verifier = TokenVerifier::new(JwtConfig {
        jwks: Some(JwksSource::parse(&url)),
        ..JwtConfig::default()
    })
    .expect("a verifier");
    for _ in 0..3 {
        verifier
            .verify(&token(Algorithm::ES256, "ec-1", "ec.pem"))
            .expect("an ES256 token");
    }
    assert_eq!(server.join().expect("the server ran"), 1, "one fetch");
}

/// A verified token is remembered: checking it again does not need its key (here, a JWKS file
/// that is gone), until it expires.
#[test]
fn a_verified_token_is_not_verified_again() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, keys("jwks.json")).expect("writes");
    let verifier = verifier(JwksSource::File(file.clone()));
    let token = token(Algorithm::ES256, "ec-1", "ec.pem");
    verifier.verify(&token).expect("verified");
    std::fs::remove_file(&file).expect("removes");
    assert!(
        verifier.verified(&token).is_some(),
        "remembered as verified"
    );
    verifier.verify(&token).expect("remembered");
}

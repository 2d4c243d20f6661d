//! A Docker token issuer, in process on 127.0.0.1, for Distribution's
//! `token` auth.
//!
//! It answers `GET /token?service=..&scope=..&scope=..` (Basic credentials
//! or none) and the OAuth2 `POST /token` form (`grant_type=password`, which
//! also returns a refresh token, and `grant_type=refresh_token`). Tokens are
//! ES256 JWTs signed with a P-256 key whose self-signed certificate is made
//! at start; the certificate goes in each token's `x5c` header and, as PEM,
//! in the bundle Distribution trusts. A known user gets every `pull` and
//! `push` asked for; anonymous gets `pull` only; wrong credentials get 401.
//! Every request is recorded with the scopes it asked for.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::distribution::RegistryAuth;

/// The audience every token names, and Distribution's `service`.
pub const SERVICE: &str = "sentinel-test";
/// The issuer every token names.
pub const ISSUER: &str = "sentinel-test-issuer";
/// How long a token lives.
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// The actions a token can grant on a repository.
const GRANTABLE_ACTIONS: [&str; 2] = ["pull", "push"];

/// How a token request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `GET /token`, with Basic credentials or none.
    Get,
    /// `POST /token` with `grant_type=password`.
    Password,
    /// `POST /token` with `grant_type=refresh_token`.
    RefreshToken,
}

/// One token request as the issuer saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The way it authenticated.
    pub grant: Grant,
    /// The user it authenticated as; `None` for anonymous or refused.
    pub user: Option<String>,
    /// Every scope asked for, in the order sent.
    pub scopes: Vec<String>,
}

/// A running issuer.
pub struct TokenIssuer {
    address: SocketAddr,
    state: Arc<IssuerState>,
    certificate_dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

struct IssuerState {
    users: HashMap<String, String>,
    signing_key: EncodingKey,
    certificate_der_base64: String,
    refresh_tokens: Mutex<HashMap<String, String>>,
    requests: Mutex<Vec<TokenRequest>>,
}

impl TokenIssuer {
    /// Makes a key and certificate and starts serving on a free port;
    /// `users` are (name, password) pairs.
    pub async fn start(users: &[(&str, &str)]) -> TokenIssuer {
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
        let certificate = rcgen::CertificateParams::new(vec![ISSUER.to_string()])
            .expect("certificate parameters")
            .self_signed(&key)
            .expect("a self-signed certificate");
        let certificate_dir = tempfile::tempdir().expect("a directory for the certificate");
        std::fs::write(certificate_dir.path().join("issuer.pem"), certificate.pem())
            .expect("write the certificate");
        let state = Arc::new(IssuerState {
            users: users
                .iter()
                .map(|(user, password)| (user.to_string(), password.to_string()))
                .collect(),
            signing_key: EncodingKey::from_ec_der(&key.serialize_der()),
            certificate_der_base64: STANDARD.encode(certificate.der()),
            refresh_tokens: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the token issuer");
        let address = listener.local_addr().expect("the issuer's address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve tokens");
        });
        TokenIssuer {
            address,
            state,
            certificate_dir,
            server,
        }
    }

    /// The registry configuration that trusts this issuer.
    pub fn registry_auth(&self) -> RegistryAuth {
        RegistryAuth::Token {
            realm: format!("http://{}/token", self.address),
            service: SERVICE.to_string(),
            issuer: ISSUER.to_string(),
            root_cert_bundle: self.certificate_path(),
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.state.requests).clone()
    }

    fn certificate_path(&self) -> PathBuf {
        self.certificate_dir.path().join("issuer.pem")
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The lock's data even if a handler panicked while holding it: the data
/// are appends and inserts, whole at every step.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `GET /token`: Basic credentials (or none) and repeated `scope`.
async fn get_token(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let scopes = scopes_of(&query);
    let user = match basic_credentials(&headers) {
        None => None,
        Some((user, password)) if state.password_matches(&user, &password) => Some(user),
        Some(_) => return state.refuse(Grant::Get, scopes),
    };
    state.record(Grant::Get, user.clone(), scopes.clone());
    let offline = field(&query, "offline_token") == Some("true");
    let refresh_token = match (&user, offline) {
        (Some(user), true) => Some(state.new_refresh_token(user)),
        _ => None,
    };
    let token = state.sign(user.as_deref(), &scopes);
    Json(TokenAnswer {
        token: Some(token.clone()),
        access_token: token,
        expires_in: TOKEN_LIFETIME.as_secs(),
        issued_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        scope: None,
        refresh_token,
    })
    .into_response()
}

/// `POST /token`: the OAuth2 password and refresh-token grants.
async fn post_token(
    State(state): State<Arc<IssuerState>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let scopes = scopes_of(&form);
    let (grant, user) = match field(&form, "grant_type") {
        Some("password") => {
            let user = field(&form, "username").unwrap_or_default();
            let password = field(&form, "password").unwrap_or_default();
            let known = state.password_matches(user, password);
            (Grant::Password, known.then(|| user.to_string()))
        }
        Some("refresh_token") => {
            let token = field(&form, "refresh_token").unwrap_or_default();
            (
                Grant::RefreshToken,
                lock(&state.refresh_tokens).get(token).cloned(),
            )
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    };
    let Some(user) = user else {
        return state.refuse(grant, scopes);
    };
    state.record(grant, Some(user.clone()), scopes.clone());
    let refresh_token = match grant {
        Grant::Password => Some(state.new_refresh_token(&user)),
        Grant::Get | Grant::RefreshToken => None,
    };
    Json(TokenAnswer {
        token: None,
        access_token: state.sign(Some(&user), &scopes),
        expires_in: TOKEN_LIFETIME.as_secs(),
        issued_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        scope: Some(scopes.join(" ")),
        refresh_token,
    })
    .into_response()
}

/// A token service's JSON answer (both the Docker and the OAuth2 shape).
#[derive(Serialize)]
struct TokenAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    access_token: String,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The claims Distribution 2.8 checks: iss, aud, exp, nbf and access.
#[derive(Serialize)]
struct Claims {
    iss: &'static str,
    sub: String,
    aud: &'static str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

/// One granted resource.
#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl IssuerState {
    fn password_matches(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|known| known == password)
    }

    fn record(&self, grant: Grant, user: Option<String>, scopes: Vec<String>) {
        lock(&self.requests).push(TokenRequest {
            grant,
            user,
            scopes,
        });
    }

    /// 401 for credentials that do not match, recorded without a user.
    fn refuse(&self, grant: Grant, scopes: Vec<String>) -> Response {
        self.record(grant, None, scopes);
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{ISSUER}\""),
            )],
            Json(serde_json::json!({
                "errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]
            })),
        )
            .into_response()
    }

    fn new_refresh_token(&self, user: &str) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        lock(&self.refresh_tokens).insert(token.clone(), user.to_string());
        token
    }

    /// A signed JWT granting `user` (anonymous when `None`) what it may
    /// have of `scopes`.
    fn sign(&self, user: Option<&str>, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let claims = Claims {
            iss: ISSUER,
            sub: user.unwrap_or_default().to_string(),
            aud: SERVICE,
            exp: now + TOKEN_LIFETIME.as_secs(),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access: granted(user.is_some(), scopes),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![self.certificate_der_base64.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.signing_key).expect("sign a token")
    }
}

/// What a token grants for `scopes`: a known user gets the pull and push
/// asked for, anonymous only pull; scopes of other types grant nothing.
fn granted(known_user: bool, scopes: &[String]) -> Vec<Access> {
    let mut by_repository: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for scope in scopes {
        let Some(("repository", rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let allowed = by_repository.entry(name.to_string()).or_default();
        for action in actions.split(',') {
            let grantable = GRANTABLE_ACTIONS.contains(&action) && (known_user || action == "pull");
            if grantable && !allowed.iter().any(|held| held == action) {
                allowed.push(action.to_string());
            }
        }
    }
    by_repository
        .into_iter()
        .map(|(name, actions)| Access {
            kind: "repository".to_string(),
            name,
            actions,
        })
        .collect()
}

/// Every `scope` value, each split at spaces (OAuth2 joins them).
fn scopes_of(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| value.split_whitespace().map(str::to_string))
        .collect()
}

/// The first value of `key`.
fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// The user and password of a Basic `Authorization` header, if any.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

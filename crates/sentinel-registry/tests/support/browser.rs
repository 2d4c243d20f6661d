//! A small browser for the web UI's tests: it keeps the cookies the
//! server sets, follows no redirects (the tests look at them), and reads
//! hidden form fields out of pages. Plus pushing images over `/v2/`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// One answer: its status, `Set-Cookie` lines, `Location` and body.
pub struct Reply {
    pub status: u16,
    pub set_cookies: Vec<String>,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub cache_control: Option<String>,
    pub body: String,
}

impl Reply {
    /// The `Set-Cookie` line of cookie `name`, if the answer sets it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|line| line.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    /// The value of the first `name="..." value="..."` field in the body.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

impl Reply {
    /// The `href` of the link with id `id`, as `<a href="..." id="...">`.
    pub fn field_href(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("\" id=\"{id}\""))?;
        let start = self.body[..at].rfind("href=\"")? + 6;
        Some(self.body[start..at].replace("&amp;", "&"))
    }
}

/// A visitor with its own cookies.
pub struct Browser {
    http: Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
    /// The `Origin` header sent with forms (`None`: none sent).
    pub origin: Option<String>,
}

impl Browser {
    /// A visitor of the server at `base` (`http://127.0.0.1:port`).
    pub fn new(base: &str) -> Browser {
        Browser::with(base, Client::builder())
    }

    /// A visitor of `base` through a client built from `builder` (one
    /// that trusts a test certificate).
    pub fn with(base: &str, builder: reqwest::blocking::ClientBuilder) -> Browser {
        Browser {
            http: builder
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            origin: Some(base.to_owned()),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn finish(&mut self, response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("a text header").to_owned())
        };
        let location = header("location");
        let retry_after = header("retry-after");
        let cache_control = header("cache-control");
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("a text cookie").to_owned())
            .collect();
        for line in &set_cookies {
            let pair = line.split(';').next().expect("name=value");
            let (name, value) = pair.split_once('=').expect("name=value");
            if line.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().expect("a body");
        Reply {
            status,
            set_cookies,
            location,
            retry_after,
            cache_control,
            body,
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Reply {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send()
            .expect("GET");
        self.finish(response)
    }

    /// `POST path` with a form of `fields`.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = &self.origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().expect("POST");
        self.finish(response)
    }

    /// Opens the sign-in form and posts `user` and `password` (and `next`
    /// if not empty) with its token.
    pub fn sign_in(&mut self, user: &str, password: &str, next: &str) -> Reply {
        let form = self.get("/sign-in");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.field("csrf").expect("the form's csrf field");
        self.post(
            "/sign-in",
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
        )
    }

    /// The CSRF token of the signed-in frame (the sign-out form's).
    pub fn csrf(&mut self) -> String {
        self.get("/settings")
            .field("csrf")
            .expect("a signed-in page carries the session's csrf")
    }
}

/// Adds user `name` (a publisher) with `password`.
pub fn add_user(data_dir: &Path, name: &str, password: &str) {
    super::process::command_ok(
        data_dir,
        &["user", "add", name, "--password-stdin"],
        &format!("{password}\n"),
    );
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes to `/v2/` as `user` (with Basic credentials), or anonymously.
pub struct Pusher {
    http: Client,
    base: String,
    user: Option<(String, String)>,
}

impl Pusher {
    /// A pusher to the server at `base`.
    pub fn new(base: &str, user: Option<(&str, &str)>) -> Pusher {
        Pusher {
            http: Client::new(),
            base: base.to_owned(),
            user: user.map(|(u, p)| (u.to_owned(), p.to_owned())),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.user {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Uploads `bytes` as a blob of `repo`; its descriptor.
    pub fn blob(&self, repo: &str, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        let reply = self
            .request(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(bytes.to_vec())
            .send()
            .expect("upload a blob");
        assert_eq!(reply.status(), 201, "{}", reply.text().unwrap_or_default());
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Puts manifest `body` of `media_type` at `repo:reference`; its digest.
    pub fn manifest(&self, repo: &str, reference: &str, media_type: &str, body: &Value) -> String {
        let bytes = serde_json::to_vec(body).expect("a manifest");
        let reply = self
            .request(
                reqwest::Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
            )
            .header("Content-Type", media_type)
            .body(bytes.clone())
            .send()
            .expect("put a manifest");
        assert_eq!(reply.status(), 201, "{}", reply.text().unwrap_or_default());
        sha256(&bytes)
    }

    /// Pushes an image with one layer of `layer` to `repo:tag`; the
    /// manifest's digest.
    pub fn image(&self, repo: &str, tag: &str, layer: &[u8]) -> String {
        let config = self.blob(repo, "application/vnd.oci.image.config.v1+json", b"{}");
        let layer = self.blob(repo, "application/vnd.oci.image.layer.v1.tar", layer);
        self.manifest(
            repo,
            tag,
            OCI_MANIFEST,
            &json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config,
                "layers": [layer],
            }),
        )
    }
}

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

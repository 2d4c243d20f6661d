//! The stylesheet, script and icon every page uses, embedded in the binary.
//!
//! Each is served under a name that carries a hash of its content
//! (`/assets/style.3f2a9c0d1e4b.css`), so a browser may keep it for a year
//! (`Cache-Control: public, max-age=31536000, immutable`) and a new release
//! is still fetched at once: its pages name new files.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Where it is served: `/assets/<name>.<hash>.<extension>`.
    pub path: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every embedded file.
#[derive(Debug)]
pub struct Assets {
    /// The one stylesheet.
    pub stylesheet: Asset,
    /// The one script: copy buttons (everything works without it).
    pub script: Asset,
    /// The icon.
    pub icon: Asset,
}

impl Assets {
    /// The file served at `path`, if one is.
    pub fn find(&self, path: &str) -> Option<&Asset> {
        [&self.stylesheet, &self.script, &self.icon]
            .into_iter()
            .find(|asset| asset.path == path)
    }
}

/// The embedded files, their names computed once.
pub fn assets() -> &'static Assets {
    static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
        stylesheet: asset(
            "style",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/style.css"),
        ),
        script: asset(
            "copy",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/copy.js"),
        ),
        icon: asset(
            "icon",
            "svg",
            "image/svg+xml",
            include_bytes!("../assets/icon.svg"),
        ),
    });
    &ASSETS
}

fn asset(name: &str, extension: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..6]);
    Asset {
        path: format!("/assets/{name}.{hash}.{extension}"),
        content_type,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash_and_are_found() {
        let assets = assets();
        assert!(assets.stylesheet.path.starts_with("/assets/style."));
        assert!(assets.stylesheet.path.ends_with(".css"));
        assert_eq!(
            assets.stylesheet.path.len(),
            "/assets/style..css".len() + 12
        );
        let found = assets.find(&assets.script.path).map(|a| a.content_type);
        assert_eq!(found, Some("text/javascript; charset=utf-8"));
        assert!(assets.find("/assets/style.css").is_none());
    }
}

//! The endpoints of one package: its versions, a version's entry and
//! file, deleting and deprecating a version, its dependents, and
//! publishing.

use bytes::Bytes;
use sentinel_package::versions::version_tag;

use super::*;

/// The versions of a package, or 404.
async fn known_versions(
    app: &App,
    repository: &RepositoryName,
) -> Result<PackageVersions, ApiError> {
    app.registry
        .package_versions(repository)
        .await?
        .ok_or_else(|| not_found(format!("no package is stored in {repository}")))
}

/// `prerelease`: `true` or `false`.
fn prerelease(request: &Request) -> Result<bool, ApiError> {
    match request.form_query("prerelease").as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(format!(
            "prerelease must be true or false, not {:?}",
            truncate(other)
        ))),
    }
}

/// `GET /v1/packages/{name}/versions[?range=REQ][&prerelease=true]`.
pub(super) async fn versions(
    app: &App,
    request: &Request,
    name: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let range = match request.form_query("range").filter(|r| !r.is_empty()) {
        Some(text) => Some(
            text.parse::<sentinel_package::versions::VersionRequirement>()
                .map_err(|e| invalid(e.to_string()))?,
        ),
        None => None,
    };
    let prerelease = prerelease(request)?;
    // The plain listing is kept until the catalogue changes.
    let plain = range.is_none() && !prerelease;
    let generation = app.registry.catalogue_generation();
    if plain && let Some(body) = app.answers.get(repository.as_str(), generation) {
        return Ok(json_bytes(body));
    }
    let versions = known_versions(app, &repository).await?;
    let latest = VersionChoice::Latest.resolve(&versions, false);
    let resolved = range
        .clone()
        .and_then(|r| VersionChoice::Requirement(r).resolve(&versions, prerelease));
    // Written straight from these structs (keys in alphabetical order, as
    // every answer has them), not through a JSON value tree.
    #[derive(serde::Serialize)]
    struct Row<'a> {
        created: std::borrow::Cow<'a, str>,
        deprecated: Option<&'a str>,
        digest: &'a sentinel_oci::Digest,
        downloads: u64,
        size: u64,
        tag: std::borrow::Cow<'a, str>,
        version: String,
    }
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        kind: PackageKind,
        latest: Option<String>,
        name: &'a str,
        resolved: Option<String>,
        versions: Vec<Row<'a>>,
    }
    let answer = Answer {
        kind: versions.kind,
        latest: latest.map(|v| v.to_string()),
        name: repository.as_str(),
        resolved: resolved.map(|v| v.to_string()),
        versions: versions
            .versions
            .iter()
            .map(|v| Row {
                created: match &v.created {
                    Some(created) => created.as_str().into(),
                    None => rfc3339(v.pushed_at).into(),
                },
                deprecated: v.deprecated.as_deref(),
                digest: &v.digest,
                downloads: v.downloads,
                size: v.size,
                tag: match &v.tag {
                    Some(tag) => tag.as_str().into(),
                    None => version_tag(&v.version).into(),
                },
                version: v.version.to_string(),
            })
            .collect(),
    };
    let body = Bytes::from(serde_json::to_vec(&answer).map_err(|e| {
        ApiError::management(
            ManagementCode::Internal,
            format!("cannot encode the versions: {e}"),
        )
    })?);
    if plain {
        app.answers
            .put(repository.as_str().to_owned(), generation, body.clone());
    }
    Ok(json_bytes(body))
}

/// A `200` with a JSON body already written.
fn json_bytes(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The version `text` names (`latest`, an exact version or a range).
async fn resolve(
    app: &App,
    repository: &RepositoryName,
    text: &str,
) -> Result<(PackageVersions, Version), ApiError> {
    let choice: VersionChoice = text
        .parse()
        .map_err(|e: sentinel_package::versions::RequirementError| invalid(e.to_string()))?;
    let versions = known_versions(app, repository).await?;
    let version = choice
        .resolve(&versions, false)
        .ok_or_else(|| not_found(format!("no version of {repository} matches {text}")))?;
    Ok((versions, version))
}

/// An exact version from the path.
fn exact(text: &str) -> Result<Version, ApiError> {
    Version::parse(text).map_err(|e| {
        invalid(format!(
            "{:?} is not an exact version ({e}); name the version, e.g. 1.2.0",
            truncate(text)
        ))
    })
}

/// The catalogue entry of the version `text` names, with every version.
async fn resolved_entry(
    app: &App,
    repository: &RepositoryName,
    text: &str,
) -> Result<(PackageVersions, Version, sentinel_catalogue::PackageVersion), ApiError> {
    let (versions, version) = resolve(app, repository, text).await?;
    let entry = app
        .registry
        .package_version(repository, &version)
        .await?
        .ok_or_else(|| not_found(format!("{repository} {version} is gone")))?;
    Ok((versions, version, entry))
}

/// `GET /v1/packages/{name}/{version}/info`; its dependents are only the
/// stacks the caller may pull.
pub(super) async fn info(
    app: &App,
    request: &Request,
    name: &str,
    text: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let (versions, version, entry) = resolved_entry(app, &repository, text).await?;
    let listed = versions.versions.iter().find(|v| v.version == version);
    let dependents: Vec<Value> = match entry.kind {
        PackageKind::Agent => app
            .registry
            .dependents(&repository)
            .await?
            .iter()
            .filter(|d| request.can_see(d.repository.as_str()))
            .map(dependent_json)
            .collect(),
        PackageKind::Stack => Vec::new(),
    };
    let mut value = serde_json::to_value(&entry).map_err(|e| {
        ApiError::management(
            ManagementCode::Internal,
            format!("cannot encode the entry: {e}"),
        )
    })?;
    if let Some(object) = value.as_object_mut() {
        object.insert("name".to_owned(), json!(repository.as_str()));
        // The `.sntl` file is `file`; `package` is the package's name, as in
        // every other answer.
        object.insert(
            "file".to_owned(),
            json!({
                "name": entry.file_name,
                "digest": entry.package.digest,
                "size": entry.package.size,
            }),
        );
        object.insert("package".to_owned(), json!(entry.name));
        object.remove("file_name");
        object.remove("repository");
        object.insert("pushed_at".to_owned(), json!(rfc3339(entry.pushed_at)));
        object.insert(
            "downloads".to_owned(),
            json!(listed.map_or(0, |v| v.downloads)),
        );
        object.insert(
            "deprecated".to_owned(),
            json!(listed.and_then(|v| v.deprecated.clone())),
        );
        object.insert("dependents".to_owned(), json!(dependents));
        object.insert(
            "signatures".to_owned(),
            signatures_json(&app.registry.signatures(&repository, &entry.digest).await?),
        );
        object.insert(
            "tag".to_owned(),
            json!(entry.tag.clone().unwrap_or_else(|| version_tag(&version))),
        );
    }
    Ok(json_response(StatusCode::OK, &value))
}

/// `GET`/`HEAD /v1/packages/{name}/{version}`: the `.sntl` file.
pub(super) async fn download(
    app: &App,
    request: &Request,
    name: &str,
    text: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let (_, _, entry) = resolved_entry(app, &repository, text).await?;
    let mut response = oci::blobs::serve_blob(
        &app.registry,
        request,
        &repository,
        &entry.package.digest,
        entry.kind.layer_media_type(),
    )
    .await?;
    let file_name: String = entry
        .file_name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename=\"{file_name}\"")),
    );
    if request.method == Method::GET {
        app.registry
            .record_package_download(&entry, Some(request.caller.user()));
    }
    Ok(response)
}

/// `DELETE /v1/packages/{name}/{version}`: the version's manifest and tags.
pub(super) async fn delete(
    app: &App,
    request: &Request,
    name: &str,
    text: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let version = exact(text)?;
    let versions = known_versions(app, &repository).await?;
    let Some(listed) = versions.versions.iter().find(|v| v.version == version) else {
        return Err(not_found(format!("{repository} has no version {version}")));
    };
    let digest = listed.digest.clone();
    app.registry
        .delete_manifest(
            &repository,
            &Reference::Digest(digest.clone()),
            Some(request.caller.user()).filter(|user| !user.is_empty()),
        )
        .await?;
    audit::record(
        "delete",
        request.caller.user(),
        request.client,
        Some(repository.as_str()),
        Some(digest.as_str()),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/packages/{name}/{version}/deprecate` `{"message"}` (with a
/// body) or `DELETE` (without).
pub(super) async fn deprecate(
    app: &App,
    name: &str,
    text: &str,
    body: Option<Body>,
) -> Result<Response, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Deprecation {
        message: Option<String>,
    }
    let repository = package_name(name)?;
    let version = exact(text)?;
    let message = match body {
        None => None,
        Some(body) => {
            let bytes = axum::body::to_bytes(body, MAX_DEPRECATION_BODY)
                .await
                .map_err(|_| {
                    invalid(format!(
                        "the body must be JSON of at most {MAX_DEPRECATION_BODY} bytes"
                    ))
                })?;
            let parsed: Deprecation = if bytes.is_empty() {
                Deprecation::default()
            } else {
                serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(format!("the body must be {{\"message\": \"...\"}}: {e}"))
                })?
            };
            Some(
                parsed
                    .message
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "deprecated".to_owned()),
            )
        }
    };
    let deprecated = message.is_some();
    if !app
        .registry
        .deprecate(&repository, &version, message.clone())
        .await?
    {
        return Err(not_found(format!("{repository} has no version {version}")));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": repository.as_str(),
            "version": version.to_string(),
            "deprecated": if deprecated { json!(message) } else { Value::Null },
        }),
    ))
}

/// A stack version naming an agent, as listed.
fn dependent_json(dependent: &Dependent) -> Value {
    json!({
        "name": dependent.repository.as_str(),
        "package": dependent.name,
        "version": dependent.version.to_string(),
        "reference": dependent.reference,
    })
}

/// `GET /v1/packages/{name}/dependents`.
pub(super) async fn dependents(
    app: &App,
    request: &Request,
    name: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let found = app.registry.dependents(&repository).await?;
    let listed: Vec<Value> = found
        .iter()
        .filter(|d| request.can_see(d.repository.as_str()))
        .map(dependent_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "name": repository.as_str(), "dependents": listed }),
    ))
}

/// `PUT /v1/packages/publish[?repository=NS/NAME]`: the body is a `.sntl` file.
pub(super) async fn publish(
    app: &App,
    request: &Request,
    body: Body,
) -> Result<Response, ApiError> {
    let target = match request.form_query("repository").filter(|r| !r.is_empty()) {
        Some(name) => PublishTarget::Repository(package_name(&name)?),
        None => {
            let user = request.caller.user();
            PublishTarget::Namespace((!user.is_empty()).then(|| user.to_owned()))
        }
    };
    let may_push = |repository: &RepositoryName| match &app.auth {
        None => true,
        Some(auth) => oci::check(
            auth,
            request,
            &request.caller,
            Requirement::Repository(repository.as_str(), Actions::PULL_PUSH),
        )
        .is_ok(),
    };
    let user = request.caller.user();
    let pushed_by = (!user.is_empty()).then_some(user);
    let published = app
        .registry
        .publish(body.into_data_stream(), target, may_push, pushed_by)
        .await?;
    let reference = format!("{}:{}", published.repository, published.tag);
    audit::record(
        "push",
        user,
        request.client,
        Some(published.repository.as_str()),
        Some(published.tag.as_str()),
    );
    let mut response = json_response(
        StatusCode::CREATED,
        &json!({
            "name": published.repository.as_str(),
            "package": published.name,
            "version": published.version.to_string(),
            "digest": published.digest,
            "reference": reference,
        }),
    );
    response.headers_mut().insert(
        header::LOCATION,
        header_value(&format!(
            "/v1/packages/{}/{}/info",
            published.repository, published.version
        )),
    );
    response.headers_mut().insert(
        "Docker-Content-Digest",
        HeaderValue::from_str(published.digest.as_str()).unwrap_or(HeaderValue::from_static("")),
    );
    Ok(response)
}

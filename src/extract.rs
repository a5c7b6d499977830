//! Request parsing whose failures use our envelope (SPEC §1, §7): JSON bodies,
//! path `live_id`s, and pagination queries. Every message names the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body, in bytes (SPEC §7: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why [`read_body_first`] could not read a body. It does not answer the request
/// itself: [`JsonBody`] turns this into the refusal, so the handler's earlier
/// extractors (authentication) still decide first, as when the extractor read the
/// body itself.
#[derive(Debug, Clone, Copy)]
enum BodyRefused {
    /// Declared or found over [`MAX_BODY_BYTES`]: 413 / 40000.
    TooLarge,
    /// Not complete within the body-read timeout: 400 / 40000.
    TooSlow(std::time::Duration),
    /// Cut off or malformed framing: 400 / 40000.
    Unreadable,
}

impl BodyRefused {
    fn error(self) -> ApiError {
        match self {
            Self::TooLarge => ApiError::BodyTooLarge(MAX_BODY_BYTES),
            Self::TooSlow(timeout) => ApiError::InvalidArgument(format!(
                "request body not received within {} of its headers",
                humantime::format_duration(timeout)
            )),
            Self::Unreadable => ApiError::InvalidArgument("request body could not be read".into()),
        }
    }
}

/// Middleware: reads a request's whole body into memory (at most
/// [`MAX_BODY_BYTES`]) within `timeout` before the request goes on to routing,
/// handlers and the in-flight limit, so that a client trickling its body holds a
/// connection for at most `timeout` (`LIVEROOM_BODY_READ_TIMEOUT`) and never one of
/// the `LIVEROOM_MAX_IN_FLIGHT` slots. A body declared or found over the limit, one
/// not complete within `timeout`, or one cut off goes on empty, marked, and
/// [`JsonBody`] refuses it (413 / 40000, or 400 / 40000 naming the body) after the
/// handler's earlier extractors. Requests without a body pass straight through.
pub async fn read_body_first(
    timeout: std::time::Duration,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http_body_util::BodyExt;
    let headers = req.headers();
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let read = if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        // Refused without waiting for the bytes (they may never come).
        Err(BodyRefused::TooLarge)
    } else {
        let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
        match tokio::time::timeout(timeout, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyRefused::TooLarge),
            Ok(Err(_)) => Err(BodyRefused::Unreadable),
            Err(_) => Err(BodyRefused::TooSlow(timeout)),
        }
    };
    let body = match read {
        Ok(bytes) => axum::body::Body::from(bytes),
        Err(refused) => {
            parts.extensions.insert(refused);
            axum::body::Body::empty()
        }
    };
    next.run(Request::from_parts(parts, body)).await
}

/// A JSON body parsed into `T`. Malformed JSON or a wrong type is 40000 naming the
/// field (`title: invalid type: integer, expected a string`); a body over
/// [`MAX_BODY_BYTES`] is 413 / 40000, one too slow or cut off 400 / 40000 (as
/// marked by [`read_body_first`], which [`crate::app`] runs before every route).
/// Unknown fields are ignored.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // `read_body_first` has read the body into memory, or marked why it could not
        // (a declared length over the limit is marked without waiting for the bytes).
        if let Some(refused) = req.extensions().get::<BodyRefused>() {
            return Err(refused.error());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    BodyRefused::TooLarge.error()
                } else {
                    BodyRefused::Unreadable.error()
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deepest nesting of arrays and objects a body may have, the top-level object
/// counted: the limit serde_json enforces on the values it builds (127 levels). It
/// skips the values of unknown fields without any limit (iteratively, so without a
/// stack risk), so [`parse_json`] checks the whole document: a body nested deeper
/// anywhere is refused.
pub const MAX_JSON_DEPTH: usize = 127;

/// Parses a JSON document, naming the offending field on error. Only a JSON
/// object is a body: serde would also read a struct from an array of its fields in
/// declaration order, and its messages for other shapes name Rust types. Anything
/// after the object (other than whitespace) is malformed JSON too, and so is a body
/// that is not UTF-8 or nests deeper than [`MAX_JSON_DEPTH`] anywhere, unknown
/// fields included (serde_json checks neither in the values it skips).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidArgument(
            "request body must be a JSON object".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        json_error(&path, &err.into_inner())
    })?;
    de.end().map_err(|err| json_error(".", &err))?;
    // After the typed parse, so a bad known field is still named in the message.
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::InvalidArgument(
            "request body is not valid JSON: invalid UTF-8".into(),
        ));
    }
    if nests_deeper_than(bytes, MAX_JSON_DEPTH) {
        return Err(ApiError::InvalidArgument(format!(
            "request body is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    Ok(value)
}

/// Whether the arrays and objects of a (syntactically valid) JSON document nest
/// deeper than `max` levels. Brackets inside strings do not count.
fn nests_deeper_than(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The 40000 of a JSON error at `path` (`.` or `?` when unknown): a wrong type names
/// its field; a syntax error says the body is not valid JSON, and where when known.
fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    let detail = err.to_string();
    // serde_json appends " at line L column C"; keep the sentence short.
    let detail = detail.split(" at line ").next().unwrap_or(&detail);
    let known = !matches!(path, "" | "." | "?");
    ApiError::InvalidArgument(match (known, err.is_data()) {
        (true, true) => format!("{path}: {detail}"),
        (true, false) => format!("request body is not valid JSON (at {path}): {detail}"),
        (false, _) => format!("request body is not valid JSON: {detail}"),
    })
}

/// Checks a `live_id` from a path or body: 1-64 chars of `[A-Za-z0-9_-]` (SPEC §7).
/// Ids become parts of Redis keys, so nothing else may pass.
pub fn check_live_id(id: &str) -> Result<(), ApiError> {
    if crate::store::is_valid_live_id(id) {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(
            "live_id must be 1-64 chars of [A-Za-z0-9_-]".into(),
        ))
    }
}

/// The `{live_id}` path parameter, validated by [`check_live_id`].
#[derive(Debug)]
pub struct LiveIdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for LiveIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| {
                    ApiError::InvalidArgument("live_id must be 1-64 chars of [A-Za-z0-9_-]".into())
                })?;
        check_live_id(&id)?;
        Ok(Self(id))
    }
}

/// Query parameters as (name, value) pairs, decoded; repeated names keep the last.
#[derive(Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

/// Where a page starts: a 1-based page number or an opaque cursor (SPEC §5).
#[derive(Debug, Clone, PartialEq)]
pub enum PageStart {
    /// `page_num` ≥ 1.
    Number(u64),
    /// The decoded `cursor`: the sort key (score) and id of the last item seen.
    After {
        /// Sort score of the last item seen.
        score: f64,
        /// Id of the last item seen.
        id: String,
    },
}

/// Pagination of every list (SPEC §5): `page_num` ≥ 1 (default 1), `page_size`
/// 1-100 (default 20), or `cursor` from a previous `next_cursor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Where the page starts.
    pub start: PageStart,
    /// Items per page, 1-100.
    pub size: u64,
}

/// Largest `page_size` (SPEC §5).
pub const MAX_PAGE_SIZE: u64 = 100;

impl Page {
    /// Parses `page_num`, `page_size` and `cursor`.
    pub fn parse(query: &QueryParams) -> Result<Self, ApiError> {
        let size = match query.get("page_size").filter(|v| !v.is_empty()) {
            None => 20,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::InvalidArgument("page_size must be an integer 1-100".into())
                })?,
        };
        let start = if let Some(cursor) = query.get("cursor").filter(|v| !v.is_empty()) {
            decode_cursor(cursor).ok_or_else(|| {
                ApiError::InvalidArgument("cursor is not a cursor returned by this list".into())
            })?
        } else {
            match query.get("page_num").filter(|v| !v.is_empty()) {
                None => PageStart::Number(1),
                Some(v) => PageStart::Number(
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or_else(|| {
                            ApiError::InvalidArgument(
                                "page_num must be an integer 1-1000000".into(),
                            )
                        })?,
                ),
            }
        };
        Ok(Self { start, size })
    }

    /// The page number for the response's `end_page` math (1 when walking by cursor).
    pub fn number(&self) -> u64 {
        match self.start {
            PageStart::Number(n) => n,
            PageStart::After { .. } => 1,
        }
    }

    /// Items to skip before this page when paging by number.
    pub fn offset(&self) -> u64 {
        (self.number() - 1) * self.size
    }

    /// The page to read from storage: one extra entry when walking by cursor, so
    /// [`Page::next_cursor`] can tell a full last page from one with more after it.
    pub fn probe(&self) -> Page {
        match self.start {
            PageStart::Number(_) => self.clone(),
            PageStart::After { .. } => Page {
                start: self.start.clone(),
                size: self.size + 1,
            },
        }
    }

    /// Trims entries read with [`Page::probe`] to this page and returns the cursor
    /// of the next page: by cursor, only when the extra entry showed there is more;
    /// by number, after any full page (`PageOf::new` drops it on the last page).
    pub fn next_cursor(&self, entries: &mut Vec<(String, f64)>) -> Option<String> {
        let size = self.size as usize;
        let more = match self.start {
            PageStart::Number(_) => entries.len() >= size,
            PageStart::After { .. } => entries.len() > size,
        };
        entries.truncate(size);
        if !more {
            return None;
        }
        entries.last().map(|(id, score)| encode_cursor(*score, id))
    }
}

impl From<Page> for crate::store::PageRequest {
    /// The store's page: by number, the entries to skip; by cursor, the last one seen.
    fn from(page: Page) -> Self {
        let from = match page.start {
            PageStart::Number(_) => crate::store::PageFrom::Offset(page.offset()),
            PageStart::After { score, id } => crate::store::PageFrom::After { score, id },
        };
        Self {
            from,
            size: page.size,
        }
    }
}

/// Encodes a cursor: the sort score and id of the last item on a page.
pub fn encode_cursor(score: f64, id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{score}|{id}"))
}

fn decode_cursor(text: &str) -> Option<PageStart> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (score, id) = raw.split_once('|')?;
    let score: f64 = score.parse().ok()?;
    if !score.is_finite()
        || id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some(PageStart::After {
        score,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn page_defaults_and_limits() {
        assert_eq!(
            Page::parse(&q(&[])).unwrap(),
            Page {
                start: PageStart::Number(1),
                size: 20
            }
        );
        assert!(Page::parse(&q(&[("page_size", "0")])).is_err());
        assert!(Page::parse(&q(&[("page_size", "1000")])).is_err());
        assert!(Page::parse(&q(&[("page_num", "0")])).is_err());
        assert!(Page::parse(&q(&[("page_num", "x")])).is_err());
        assert_eq!(
            Page::parse(&q(&[("page_num", "3"), ("page_size", "10")]))
                .unwrap()
                .offset(),
            20
        );
    }

    #[test]
    fn cursor_round_trips() {
        let c = encode_cursor(1234.0, "live_abc");
        let page = Page::parse(&q(&[("cursor", &c)])).unwrap();
        assert_eq!(
            page.start,
            PageStart::After {
                score: 1234.0,
                id: "live_abc".into()
            }
        );
        assert!(Page::parse(&q(&[("cursor", "!!!")])).is_err());
    }

    #[test]
    fn next_cursor_only_when_more_follows() {
        let entries = |n: usize| -> Vec<(String, f64)> {
            (0..n).map(|i| (format!("id{i}"), i as f64)).collect()
        };
        let after = Page::parse(&q(&[
            ("cursor", &encode_cursor(9.0, "x")),
            ("page_size", "3"),
        ]))
        .unwrap();
        assert_eq!(after.probe().size, 4);
        let mut full_last = entries(3);
        assert_eq!(after.next_cursor(&mut full_last), None);
        let mut more = entries(4);
        assert_eq!(
            after.next_cursor(&mut more),
            Some(encode_cursor(2.0, "id2"))
        );
        assert_eq!(more.len(), 3);
        let by_number = Page::parse(&q(&[("page_size", "3")])).unwrap();
        assert_eq!(by_number.probe(), by_number);
        assert!(by_number.next_cursor(&mut entries(3)).is_some());
        assert!(by_number.next_cursor(&mut entries(2)).is_none());
    }

    #[test]
    fn depth_and_utf8_are_checked_in_ignored_fields() {
        use crate::model::CreateRoomBody;
        let nested = |n: usize| {
            format!(
                r#"{{"title":"t","x":{}"]{{}}\"["{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        // The top-level object is level 1.
        assert!(parse_json::<CreateRoomBody>(nested(MAX_JSON_DEPTH - 1).as_bytes()).is_ok());
        let err = parse_json::<CreateRoomBody>(nested(MAX_JSON_DEPTH).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
        assert!(parse_json::<CreateRoomBody>(nested(10_000).as_bytes()).is_err());
        let mut body = br#"{"title":"t","x":""#.to_vec();
        body.extend_from_slice(b"\xff\"}");
        let err = parse_json::<CreateRoomBody>(&body).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn live_ids_are_checked() {
        assert!(check_live_id("live_0123abcd").is_ok());
        assert!(check_live_id("").is_err());
        assert!(check_live_id("a}b").is_err());
        assert!(check_live_id("../etc").is_err());
        assert!(check_live_id(&"a".repeat(65)).is_err());
    }
}

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::error::ApiJson;

#[derive(Deserialize)]
struct Count {
    #[allow(dead_code, reason = "only deserialized")]
    n: u32,
}

/// A route that takes JSON, behind the real layers.
fn json_app() -> Router {
    with_layers(Router::new().route(
        "/count",
        post(|ApiJson(_): ApiJson<Count>| async { StatusCode::NO_CONTENT }),
    ))
}

async fn call(request: Request<Body>) -> (StatusCode, String, Value) {
    let response = json_app().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    (status, id, body)
}

fn post_json(body: &str) -> Request<Body> {
    Request::post("/count")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn json_failures_are_invalid_request() {
    for (request, what) in [
        (post_json("{\"n\": 1"), "truncated"),
        (post_json("{\"n\": \"one\"}"), "wrong type"),
        (post_json("{}"), "missing field"),
        (
            Request::post("/count")
                .body(Body::from("{\"n\": 1}"))
                .unwrap(),
            "no content type",
        ),
    ] {
        let (status, id, body) = call(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(body["code"], "invalid_request", "{what}");
        assert_eq!(body["details"]["request_id"], id.as_str(), "{what}");
        assert_eq!(body["notices"], Value::Array(vec![]), "{what}");
    }
    let (status, _, body) = call(post_json("{\"n\": 1}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

#[tokio::test]
async fn request_ids_are_kept_only_when_plain() {
    let with_id = |id: &str| {
        Request::post("/count")
            .header(REQUEST_ID, id)
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap()
    };
    let (_, id, body) = call(with_id("abc-123.x:y_z")).await;
    assert_eq!(id, "abc-123.x:y_z");
    assert_eq!(body["details"]["request_id"], "abc-123.x:y_z");

    for bad in ["a b", &"x".repeat(65), "{\"json\"}"] {
        let (_, id, body) = call(with_id(bad)).await;
        assert_ne!(id, bad);
        assert_eq!(id.len(), 22, "a fresh random id");
        assert_eq!(body["details"]["request_id"], id.as_str());
    }
}

//! `wasi:http` components, unchanged: C (`wit-bindgen c` and the preview 1 proxy adapter),
//! JavaScript (componentize-js) and Python (componentize-py) components built from `examples/`, deployed through the real binary and
//! called through `/functions/{name}/invoke` and a configured route; components that import
//! what Flint does not serve are refused with the import's name.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, Server, error_code};

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn wasi_http_components_serve_unchanged(b: Backend) {
    let s = Server::start(b);

    let port = crate::capabilities::upstream();
    let js = flint_test_modules::examples::javascript_component();
    let allowed =
        json!({"routes": ["/js"], "allowed_outbound_hosts": [format!("http://127.0.0.1:{port}")]});
    let r = s.deploy("js", &js, &allowed);
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    for _ in 0..2 {
        // The same answer twice: each call starts from the snapshot.
        let r = s.invoke("js", b"from a test");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-lang"), "javascript");
        assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(
            r.text().unwrap(),
            "hello world from JavaScript: POST /functions/js/invoke from a test\n"
        );
    }
    // A route reaches the same handler, with the method, path and query as requested, and the
    // status the handler chose.
    let r = s.req(Method::GET, "/js/teapot?name=Ada").send().unwrap();
    assert_eq!(r.status(), StatusCode::from_u16(418).unwrap());
    assert_eq!(
        r.text().unwrap(),
        "hello Ada from JavaScript: GET /js/teapot \n"
    );

    // C (wit-bindgen c, the preview 1 proxy adapter).
    let c = flint_test_modules::examples::c_component();
    let r = s.deploy("c", &c, &json!({"routes": ["/c"]}));
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let r = s
        .req(Method::PUT, "/c/items/7?full=1")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-lang"), "c");
    assert_eq!(r.text().unwrap(), "hello from C: PUT /c/items/7?full=1\n");

    // JavaScript's fetch goes out through wasi:http/outgoing-handler, to allowed hosts only.
    let fetch = |url: String| {
        let r = s
            .req(Method::GET, &format!("/js?fetch={url}"))
            .send()
            .unwrap();
        (r.status(), r.text().unwrap())
    };
    let (status, body) = fetch(format!("http://127.0.0.1:{port}/echo"));
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "fetched 200 got ping from js\n")
    );
    let other = crate::capabilities::upstream();
    let (status, body) = fetch(format!("http://127.0.0.1:{other}/echo"));
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.starts_with("fetch failed"), "{body}");

    let py = flint_test_modules::examples::python_component();
    let r = s.deploy("py", &py, &json!({}));
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let r = s
        .req(Method::POST, "/functions/py/invoke?x=1")
        .body("hi")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-lang"), "python");
    assert_eq!(
        r.text().unwrap(),
        "hello from Python: POST /functions/py/invoke?x=1 hi\n"
    );

    // An import outside the served worlds is named; a component without the handler too.
    let keyvalue =
        wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0" (instance)))"#).unwrap();
    let (status, e) = error_code(s.deploy("kv", &keyvalue, &json!({})));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["reason"], "unknown_import", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("wasi:keyvalue/store@0.2.0"),
        "{e}"
    );
    let too_new =
        wat::parse_str(r#"(component (import "wasi:http/types@0.3.0" (instance)))"#).unwrap();
    let (status, e) = error_code(s.deploy("new", &too_new, &json!({})));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("wasi:http/types@0.3.0"),
        "{e}"
    );
    let (status, e) =
        error_code(s.deploy("empty", &wat::parse_str("(component)").unwrap(), &json!({})));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["reason"], "missing_entry", "{e}");
}

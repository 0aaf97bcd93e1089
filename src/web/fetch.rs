//! Getting a model's files in the browser: each source may be a URL string,
//! a `Response`, an `ArrayBuffer` or a `Uint8Array`. Weights are read from
//! the response body's stream chunk by chunk, so they never sit whole in the
//! wasm heap.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Result};

fn js_msg(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| v.as_string()).unwrap_or_else(|| format!("{v:?}"))
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// How URLs are fetched: the global `fetch`, or the caller's function
/// (`options.fetch`, e.g. the npm wrapper's Cache API layer) with the same
/// contract: `(url) => Promise<Response>`.
#[derive(Clone, Default)]
pub(crate) struct Fetcher(pub(crate) Option<Function>);

/// `fetch(url)` from the page or the worker; `None` on HTTP 404.
pub(crate) async fn fetch(url: &str, via: &Fetcher) -> Result<Option<JsValue>> {
    let global = js_sys::global();
    let f: Function = match &via.0 {
        Some(f) => f.clone(),
        None => get(&global, "fetch").dyn_into().map_err(|_| Error::Io { file: url.into(), message: "this context has no fetch()".into() })?,
    };
    let promise: Promise = f.call1(&global, &url.into()).map_err(|e| Error::Io { file: url.into(), message: js_msg(&e) })?.unchecked_into();
    let resp = JsFuture::from(promise).await.map_err(|e| Error::Io { file: url.into(), message: format!("fetch failed: {}", js_msg(&e)) })?;
    let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u32;
    if status == 404 {
        return Ok(None);
    }
    if !get(&resp, "ok").as_bool().unwrap_or(false) {
        return Err(Error::Io { file: url.into(), message: format!("HTTP {status} {}", get(&resp, "statusText").as_string().unwrap_or_default()) });
    }
    Ok(Some(resp))
}

/// A file's bytes as chunks: whole for in-memory sources, streamed for responses.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Stream { reader: JsValue, total: Option<u64> },
}

impl Body {
    /// A source given by the caller: a URL (fetched; 404 is an error), a
    /// `Response`, an `ArrayBuffer` or a `Uint8Array`.
    pub(crate) async fn open(name: &str, src: &JsValue, via: &Fetcher) -> Result<Body> {
        if let Some(url) = src.as_string() {
            let resp = fetch(&url, via).await?.ok_or_else(|| Error::Io { file: url.clone(), message: "HTTP 404 not found".into() })?;
            return Body::of_response(&url, &resp);
        }
        if let Some(u8s) = src.dyn_ref::<Uint8Array>() {
            return Ok(Body::Bytes(u8s.to_vec()));
        }
        if let Some(buf) = src.dyn_ref::<js_sys::ArrayBuffer>() {
            return Ok(Body::Bytes(Uint8Array::new(buf).to_vec()));
        }
        if get(src, "body").is_object() || get(src, "arrayBuffer").is_function() {
            return Body::of_response(name, src);
        }
        Err(Error::InvalidArgument(format!("{name}: expected a URL string, a Response, an ArrayBuffer or a Uint8Array")))
    }

    pub(crate) fn of_response(name: &str, resp: &JsValue) -> Result<Body> {
        let body = get(resp, "body");
        let total = get(&get(resp, "headers"), "get")
            .dyn_into::<Function>()
            .ok()
            .and_then(|g| g.call1(&get(resp, "headers"), &"content-length".into()).ok())
            .and_then(|v| v.as_string())
            .and_then(|s| s.parse().ok());
        let reader = get(&body, "getReader")
            .dyn_into::<Function>()
            .and_then(|f| f.call0(&body))
            .map_err(|e| Error::Io { file: name.into(), message: format!("cannot read the response body: {}", js_msg(&e)) })?;
        Ok(Body::Stream { reader, total })
    }

    /// Total bytes, when known.
    pub(crate) fn total(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Stream { total, .. } => *total,
        }
    }

    /// The next chunk, or `None` at the end.
    pub(crate) async fn next(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Body::Bytes(b) if b.is_empty() => Ok(None),
            Body::Bytes(b) => Ok(Some(std::mem::take(b))),
            Body::Stream { reader, .. } => {
                let read: Function = get(reader, "read").unchecked_into();
                let p: Promise = read.call0(reader).map_err(|e| Error::Io { file: name.into(), message: js_msg(&e) })?.unchecked_into();
                let r = JsFuture::from(p).await.map_err(|e| Error::Io { file: name.into(), message: format!("download failed: {}", js_msg(&e)) })?;
                if get(&r, "done").as_bool().unwrap_or(false) {
                    return Ok(None);
                }
                Ok(Some(get(&r, "value").unchecked_into::<Uint8Array>().to_vec()))
            }
        }
    }

    /// Everything, for small files.
    pub(crate) async fn read_all(mut self, name: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = self.next(name).await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

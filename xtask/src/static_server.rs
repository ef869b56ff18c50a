//! Serves the release web build, with `config.json` made at start-up and a
//! fallback to `index.html` for client-side routes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub fn serve(listener: TcpListener, dist: PathBuf, config_json: String) {
    let config = Arc::new(config_json);
    let dist = Arc::new(dist);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (dist, config) = (dist.clone(), config.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &dist, &config);
            });
        }
    });
}

fn handle(mut stream: TcpStream, dist: &Path, config: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let (status, body, content_type) = if path == "/config.json" {
        ("200 OK", config.as_bytes().to_vec(), "application/json")
    } else {
        match resolve(dist, path) {
            Some(file) => match std::fs::read(&file) {
                Ok(bytes) => ("200 OK", bytes, content_type(&file)),
                Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
            },
            None => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

/// Maps a URL path into `dist`, refusing `..`; paths without an extension
/// are app routes and get `index.html`.
fn resolve(dist: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let candidate = dist.join(relative);
    if candidate.is_file() {
        return Some(candidate);
    }
    if relative.extension().is_none() {
        return Some(dist.join("index.html"));
    }
    None
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

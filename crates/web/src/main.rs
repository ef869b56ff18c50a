//! Entry point: mounts the app in the browser. The logic lives in the library.

#[cfg(target_arch = "wasm32")]
fn main() {
    bloc_web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("bloc-web is a browser app: build it with `trunk build --release` (see docs/web.md)");
}

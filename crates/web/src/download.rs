//! Saving text the app made (an import's results, an export) as a file:
//! a Blob, an object URL, a click on a temporary link.

use wasm_bindgen::JsCast;

/// Offers `text` as a download named `name` with MIME type `mime`.
pub fn save_text(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "The file could not be made.".to_owned())?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "The file could not be made.".to_owned())?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("No document.")?;
    let link: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| "No link.".to_owned())?.dyn_into().map_err(|_| "No link.".to_owned())?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // Revoked a little later: some browsers read the URL after the click returns.
    gloo_timers::callback::Timeout::new(10_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

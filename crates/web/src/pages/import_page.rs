//! `/leads/import` (admins): a CSV file read in the browser, its columns
//! mapped to lead fields (the webhook's aliases, overridable), a preview of
//! the first rows as the ingest service would store them, then the import
//! in batches with a progress bar and a per-row result file.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use serde_json::Value;
use wasm_bindgen::JsCast;

use crate::components::error_message::ErrorMessage;
use crate::context::use_api;
use crate::csv;
use crate::download;
use crate::lead_import::{self, Tally, BATCH_ROWS, PREVIEW_ROWS, TARGETS};

/// A file read and split into records.
#[derive(Clone, Default)]
struct Sheet {
    name: String,
    import_ref: String,
    headers: Vec<String>,
    /// Data rows with their record number in the file (the header is 1).
    rows: Vec<(u32, Vec<String>)>,
}

impl Sheet {
    fn body(&self, targets: &[String], rows: &[(u32, Vec<String>)]) -> String {
        let rows: Vec<(u32, &[String])> = rows.iter().map(|(n, cells)| (*n, cells.as_slice())).collect();
        lead_import::request_body(&self.import_ref, &self.headers, targets, &rows)
    }
}

/// Reads the chosen file: its bytes (hashed to name the import) and text.
async fn read_file(file: web_sys::File) -> Result<Sheet, String> {
    let name = file.name();
    let raw = web_sys::Response::new_with_opt_blob(Some(&file)).map_err(|_| "The file could not be read.".to_owned())?;
    let bytes = gloo_net::http::Response::from(raw).binary().await.map_err(|_| "The file could not be read.".to_owned())?;
    let import_ref = lead_import::sha256_hex(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    let mut records = csv::parse(&text).map_err(|e| e.to_string())?.into_iter();
    let headers: Vec<String> = records.next().unwrap_or_default().into_iter().map(|h| h.trim().to_owned()).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err("The file is empty: the first line should name the columns.".to_owned());
    }
    let rows: Vec<(u32, Vec<String>)> =
        records.enumerate().filter(|(_, r)| !csv::is_blank(r)).map(|(i, r)| (i as u32 + 2, r)).collect();
    if rows.is_empty() {
        return Err("The file has column names but no rows.".to_owned());
    }
    Ok(Sheet { name, import_ref, headers, rows })
}

fn outcome(row: &Value) -> String {
    let text = |key: &str| row.get(key).and_then(Value::as_str);
    let number = |key: &str| row.get(key).and_then(Value::as_i64);
    if text("status") == Some("invalid") {
        return format!("Error: {}", text("message").unwrap_or("refused"));
    }
    if let Some(status) = row.get("imported").and_then(Value::as_str) {
        return format!("Already imported ({status})");
    }
    if let Some(id) = number("duplicate_of") {
        return format!("Duplicate of lead #{id}");
    }
    if let Some(first) = number("repeats_row") {
        return format!("Duplicate of row {first}");
    }
    "Ready".to_owned()
}

#[component]
pub fn ImportPage() -> impl IntoView {
    let api = use_api();
    let configured = api.ingest_url().is_some();
    let sheet = RwSignal::new(None::<Sheet>);
    let targets = RwSignal::new(Vec::<String>::new());
    let problem = RwSignal::new(None::<String>);
    let preview = RwSignal::new(None::<Result<Vec<Value>, String>>);
    let progress = RwSignal::new((0usize, 0usize));
    let results = RwSignal::new(Vec::<Value>::new());
    let running = RwSignal::new(false);

    let load_preview = move || {
        let Some(current) = sheet.get_untracked() else { return };
        let body = current.body(&targets.get_untracked(), &current.rows[..current.rows.len().min(PREVIEW_ROWS)]);
        preview.set(None);
        spawn_local(async move {
            preview.set(Some(api.preview_import(body).await.map_err(|e| e.to_string())));
        });
    };

    let on_file = move |ev: leptos::ev::Event| {
        let input: Option<web_sys::HtmlInputElement> = ev.target().and_then(|t| t.dyn_into().ok());
        let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) else { return };
        problem.set(None);
        sheet.set(None);
        preview.set(None);
        results.set(Vec::new());
        progress.set((0, 0));
        spawn_local(async move {
            match read_file(file).await {
                Ok(read) => {
                    targets.set(read.headers.iter().map(|h| lead_import::default_target(h).to_owned()).collect());
                    sheet.set(Some(read));
                    load_preview();
                }
                Err(why) => problem.set(Some(why)),
            }
        });
    };

    let start_import = move |_| {
        let Some(current) = sheet.get_untracked() else { return };
        let chosen = targets.get_untracked();
        running.set(true);
        problem.set(None);
        results.set(Vec::new());
        progress.set((0, current.rows.len()));
        spawn_local(async move {
            for batch in current.rows.chunks(BATCH_ROWS) {
                match api.import_rows(current.body(&chosen, batch)).await {
                    Ok(rows) => {
                        results.update(|r| r.extend(rows));
                        progress.update(|(done, _)| *done += batch.len());
                    }
                    Err(error) => {
                        problem.set(Some(format!(
                            "The import stopped: {error} Rows stored so far stay stored; import the same file again to go on (nothing is created twice)."
                        )));
                        break;
                    }
                }
            }
            running.set(false);
        });
    };

    let download_results = move |_| {
        let name = sheet.with_untracked(|s| s.as_ref().map(|s| s.name.clone())).unwrap_or_default();
        let file = results.with_untracked(|rows| lead_import::result_csv(rows));
        if let Err(why) = download::save_text(&format!("import-results-{}", name.trim_end_matches(".csv")).replace(' ', "-"), "text/csv", &file) {
            problem.set(Some(why));
        }
    };

    let tally = Memo::new(move |_| {
        let mut tally = Tally::default();
        results.with(|rows| rows.iter().for_each(|r| tally.add(r)));
        tally
    });

    view! {
        <div class="page-head">
            <h1>"Import leads"</h1>
            <A href="/leads">"Back to leads"</A>
        </div>
        {(!configured).then(|| view! {
            <div class="card import-unconfigured" role="alert">
                <h2>"Imports are not set up"</h2>
                <p>"Importing needs the ingest service, which checks phone numbers and states the same way as the webhook. "
                   "Add its address as " <code>"ingest_url"</code> " to config.json (for example "
                   <code>"\"ingest_url\": \"https://ingest.example.com\""</code> "), and allow this site's origin in the service's "
                   <code>"CORS_ALLOWED_ORIGINS"</code> "."</p>
            </div>
        })}
        <section class="card import-file" aria-label="File">
            <label for="import-file">"CSV file (a Google Sheets or Excel export; the first line names the columns)"</label>
            <input id="import-file" type="file" accept=".csv,text/csv" disabled=!configured on:change=on_file/>
            <p class="hint">"Leads are assigned at once, like webhook leads: routing, daily limits and overflow apply. Importing the same file again creates nothing twice."</p>
        </section>
        {move || problem.get().map(|message| view! { <ErrorMessage message=message/> })}
        {move || sheet.get().map(|current| {
            let total = current.rows.len();
            let headers = current.headers.clone();
            view! {
                <section class="card import-mapping" aria-label="Columns">
                    <h2>{format!("{} — {total} rows", current.name)}</h2>
                    <div class="mapping-grid">
                        {headers.into_iter().enumerate().map(|(i, header)| {
                            let id = format!("map-{i}");
                            view! {
                                <div class="field">
                                    <label for=id.clone()>{if header.is_empty() { format!("Column {}", i + 1) } else { header.clone() }}</label>
                                    <select id=id on:change=move |ev| {
                                        let value = event_target_value(&ev);
                                        targets.update(|t| if let Some(slot) = t.get_mut(i) { *slot = value });
                                        load_preview();
                                    }>
                                        {TARGETS.iter().map(|(value, label)| {
                                            let selected = targets.with_untracked(|t| t.get(i).is_some_and(|v| v == value));
                                            view! { <option value=*value selected=selected>{*label}</option> }
                                        }).collect_view()}
                                    </select>
                                </div>
                            }
                        }).collect_view()}
                    </div>
                </section>
                <section class="card import-preview" aria-label="Preview">
                    <h2>{format!("Preview of the first {} rows", total.min(PREVIEW_ROWS))}</h2>
                    {move || match preview.get() {
                        None => view! { <p class="loading" role="status">"Checking rows…"</p> }.into_any(),
                        Some(Err(message)) => view! { <ErrorMessage message=message on_retry=Callback::new(move |_| load_preview())/> }.into_any(),
                        Some(Ok(rows)) => view! {
                            <div class="table-scroll">
                                <table class="table" data-testid="import-preview">
                                    <thead><tr><th scope="col">"Row"</th><th scope="col">"Name"</th><th scope="col">"Phone"</th><th scope="col">"State"</th><th scope="col">"Outcome"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|row| {
                                            let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or("—").to_owned();
                                            let bad = row.get("status").and_then(Value::as_str) == Some("invalid");
                                            view! {
                                                <tr class:invalid=bad>
                                                    <td>{row.get("row").and_then(Value::as_i64).unwrap_or_default()}</td>
                                                    <td>{text("name")}</td>
                                                    <td class="nowrap">{text("phone")}</td>
                                                    <td>{text("state")}</td>
                                                    <td>{outcome(&row)}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }}
                    <div class="import-actions">
                        <button class="button" type="button" disabled=move || running.get() on:click=start_import>
                            {move || if running.get() { "Importing…".to_owned() } else { format!("Import {total} rows") }}
                        </button>
                    </div>
                </section>
            }
        })}
        {move || (progress.get().1 > 0).then(|| {
            let (done, total) = progress.get();
            let t = tally.get();
            view! {
                <section class="card import-progress" aria-label="Import progress">
                    <label for="import-bar">{format!("{done} of {total} rows sent")}</label>
                    <progress id="import-bar" max=total.to_string() value=done.to_string()></progress>
                    <p class="import-tally" data-testid="import-tally">
                        {format!("{} assigned · {} unassigned · {} duplicates · {} errors · {} already imported",
                            t.assigned, t.unassigned, t.duplicate, t.invalid, t.already)}
                    </p>
                    {(!running.get() && results.with(|r| !r.is_empty())).then(|| view! {
                        <button class="button secondary" type="button" on:click=download_results>"Download results (CSV)"</button>
                    })}
                </section>
            }
        })}
    }
}

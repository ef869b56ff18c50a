//! Previous / next page controls with the position and total.

use leptos::prelude::*;

use crate::query::page_count;

#[component]
pub fn Pagination(
    #[prop(into)] page: Signal<u32>,
    #[prop(into)] total: Signal<u64>,
    page_size: u32,
    on_page: Callback<u32>,
) -> impl IntoView {
    let pages = move || page_count(total.get(), page_size);
    view! {
        <nav class="pagination" aria-label="Pages">
            <button
                class="button secondary small"
                disabled=move || page.get() == 0
                on:click=move |_| on_page.run(page.get_untracked().saturating_sub(1))
            >
                "‹ Previous"
            </button>
            <span data-testid="page-info">
                {move || format!("Page {} of {} · {} leads", page.get() + 1, pages(), total.get())}
            </span>
            <button
                class="button secondary small"
                disabled={move || u64::from(page.get()) + 1 >= pages()}
                on:click=move |_| on_page.run(page.get_untracked() + 1)
            >
                "Next ›"
            </button>
        </nav>
    }
}

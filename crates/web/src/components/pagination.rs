//! Previous / next page controls with the position and total ("about N"
//! while the total is the planner's estimate, see `query::Total`).

use leptos::prelude::*;

use crate::query::{page_count, Total};

#[component]
pub fn Pagination(
    #[prop(into)] page: Signal<u32>,
    /// `None` while the first answer is loading.
    #[prop(into)]
    total: Signal<Option<Total>>,
    page_size: u32,
    on_page: Callback<u32>,
) -> impl IntoView {
    let info = move || {
        let page = page.get();
        match total.get() {
            None => format!("Page {}", page + 1),
            Some(t @ Total::Exact(n)) => format!("Page {} of {} · {}", page + 1, page_count(n, page_size), t.label()),
            Some(t) => format!("Page {} · {}", page + 1, t.label()),
        }
    };
    view! {
        <nav class="pagination" aria-label="Pages">
            <button
                class="button secondary small"
                disabled=move || page.get() == 0
                on:click=move |_| on_page.run(page.get_untracked().saturating_sub(1))
            >
                "‹ Previous"
            </button>
            <span data-testid="page-info">{info}</span>
            <button
                class="button secondary small"
                disabled=move || !total.get().is_some_and(|t| t.has_next(page.get(), page_size))
                on:click=move |_| on_page.run(page.get_untracked() + 1)
            >
                "Next ›"
            </button>
        </nav>
        {move || total.get().and_then(|t| {
            // The last page the table reaches (a search reaches fewer), with more beyond it.
            let pages = t.pages(page_size);
            let shown = u64::from(pages) * u64::from(page_size);
            (page.get() + 1 >= pages && t.value() > shown).then(|| view! {
                <p class="pagination-cap" role="note">
                    {format!("These are the first {} of this order. Narrow the search or the filters to reach the rest.", Total::Exact(shown).label())}
                </p>
            })
        })}
    }
}

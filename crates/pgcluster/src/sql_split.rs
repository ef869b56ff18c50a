//! Splits a SQL script into statements, honouring quotes, dollar quotes and
//! comments, so migration records list statements as the Supabase CLI does.

/// Returns the script's statements, trimmed, without their final `;`.
pub fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i, bytes[i]),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p + 1)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2)
            }
            b'$' => i = skip_dollar_quoted(sql, i),
            b';' => {
                push_statement(&mut out, &sql[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push_statement(&mut out, &sql[start..]);
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    let only_comments = trimmed
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"));
    if !trimmed.is_empty() && !only_comments {
        out.push(trimmed.to_string());
    }
}

fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// `$tag$ … $tag$`; a `$` that does not open a tag (e.g. `$1`) is skipped alone.
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let rest = &sql[open + 1..];
    let Some(close) = rest.find('$') else { return open + 1 };
    let tag = &rest[..close];
    if !tag.chars().all(|c| c.is_alphanumeric() || c == '_') || tag.starts_with(|c: char| c.is_ascii_digit()) {
        return open + 1;
    }
    let delimiter = format!("${tag}$");
    let body_start = open + delimiter.len();
    match sql[body_start..].find(&delimiter) {
        Some(p) => body_start + p + delimiter.len(),
        None => sql.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn semicolons_inside_function_bodies_do_not_split_statements() {
        let sql = "create table a (x int);\ncreate function f() returns int language sql as $$ select 1; $$;\n-- done;\n";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].ends_with("$$ select 1; $$"));
    }

    #[test]
    fn semicolons_inside_strings_and_comments_do_not_split_statements() {
        let parts = split_statements("select 'a;b'; /* c; */ select \"x;\" from t");
        assert_eq!(parts, vec!["select 'a;b'", "/* c; */ select \"x;\" from t"]);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(split_statements("select $1; select 2").len(), 2);
    }
}

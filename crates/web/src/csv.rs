//! CSV as RFC 4180 writes it, and as Google Sheets and Excel export it:
//! fields separated by commas, records by CRLF or LF; a field in double
//! quotes may hold commas, line breaks and `""` for one quote; a UTF-8 byte
//! order mark at the start is dropped. Hand-written: the bundle cannot
//! afford a CSV crate for one screen.

/// Why a file cannot be read as CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvError {
    /// A quoted field is still open at the end of the file.
    UnterminatedQuote { record: usize },
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsvError::UnterminatedQuote { record } => {
                write!(f, "Record {record} opens a quoted field that never closes. Is this a CSV file?")
            }
        }
    }
}

/// The records of `text`, each a list of fields. A quote inside an
/// unquoted field is kept as a character (lenient, as spreadsheets are);
/// text after a closing quote is appended to the field. A final line break
/// does not make an empty record.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            other => {
                field.push(other);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(CsvError::UnterminatedQuote { record: records.len() + 1 });
    }
    if !at_field_start || !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// One record as a CSV line ending in CRLF, quoting a field only when it
/// holds a comma, a quote or a line break.
pub fn write_record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

/// Whether every field of `record` is empty or blank (a spreadsheet's empty row).
pub fn is_blank(record: &[String]) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        parse(text).unwrap()
    }

    #[test]
    fn plain_fields_split_on_commas_and_lines_on_lf_or_crlf() {
        assert_eq!(rows("a,b\r\n1,2\n3,4"), vec![vec!["a", "b"], vec!["1", "2"], vec!["3", "4"]]);
    }

    #[test]
    fn a_final_line_break_makes_no_empty_record() {
        assert_eq!(rows("a,b\r\n1,2\r\n").len(), 2);
        assert_eq!(rows("").len(), 0);
    }

    #[test]
    fn empty_fields_are_kept_in_place() {
        assert_eq!(rows(",x,\n"), vec![vec!["", "x", ""]]);
    }

    #[test]
    fn a_quoted_field_holds_commas_line_breaks_and_escaped_quotes() {
        let parsed = rows("name,notes\r\n\"Rao, Asha\",\"said \"\"call me\"\"\r\nafter 5\"\r\n");
        assert_eq!(parsed[1], vec!["Rao, Asha", "said \"call me\"\r\nafter 5"]);
    }

    #[test]
    fn a_utf8_byte_order_mark_is_dropped_from_the_first_header() {
        assert_eq!(rows("\u{feff}Phone,Name\n1,2")[0][0], "Phone");
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_kept() {
        assert_eq!(rows("5'10\",x")[0], vec!["5'10\"", "x"]);
    }

    #[test]
    fn an_unterminated_quote_is_refused_naming_the_record() {
        assert_eq!(parse("a\n\"open,b\n"), Err(CsvError::UnterminatedQuote { record: 2 }));
    }

    #[test]
    fn written_records_quote_only_what_needs_it_and_read_back_the_same() {
        let fields = ["plain", "with, comma", "with \"quote\"", "two\nlines", ""];
        let line = write_record(&fields);
        assert_eq!(line, "plain,\"with, comma\",\"with \"\"quote\"\"\",\"two\nlines\",\r\n");
        assert_eq!(rows(&line), vec![fields.to_vec()]);
    }

    #[test]
    fn a_blank_record_is_recognised() {
        assert!(is_blank(&[String::new(), "  ".into()]));
        assert!(!is_blank(&["x".into()]));
    }
}

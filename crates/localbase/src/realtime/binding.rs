//! `postgres_changes` bindings from a `phx_join`, and their filters.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Which changes a binding wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    All,
    Insert,
    Update,
    Delete,
}

/// The kind of a captured change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Update => "UPDATE",
            ChangeKind::Delete => "DELETE",
        }
    }
}

/// A filter operator: `col=op.value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
}

/// A parsed `filter` such as `caller_id=eq.42` or `state=in.(MH,KA)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// One entry of `config.postgres_changes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Sent back in the join reply and in each event's `ids`. Never 0,
    /// because supabase-js treats a 0 id as "no id".
    pub id: u32,
    pub event: EventKind,
    /// `*` for every schema.
    pub schema: String,
    /// `None` for every table of the schema.
    pub table: Option<String>,
    pub filter: Option<Filter>,
    /// The binding as the client sent it, plus `id`: the join reply echoes it.
    pub echo: Value,
}

impl Binding {
    /// Parses one binding object.
    pub fn parse(value: &Value) -> Result<Binding, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "each postgres_changes entry must be an object".to_owned())?;
        let event_text = match obj.get("event") {
            Some(Value::String(e)) => e.as_str(),
            None | Some(Value::Null) => "*",
            Some(_) => return Err("postgres_changes event must be a string".into()),
        };
        let event = match event_text.to_ascii_uppercase().as_str() {
            "*" => EventKind::All,
            "INSERT" => EventKind::Insert,
            "UPDATE" => EventKind::Update,
            "DELETE" => EventKind::Delete,
            other => return Err(format!("postgres_changes event {other:?} must be *, INSERT, UPDATE or DELETE")),
        };
        let schema = match obj.get("schema") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            None | Some(Value::Null) => "public".to_owned(),
            Some(_) => return Err("postgres_changes schema must be a non-empty string".into()),
        };
        let table = match obj.get("table") {
            Some(Value::String(t)) if t == "*" => None,
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            None | Some(Value::Null) => None,
            Some(_) => return Err("postgres_changes table must be a non-empty string".into()),
        };
        let filter_text = match obj.get("filter") {
            Some(Value::String(f)) if !f.is_empty() => Some(f.as_str()),
            None | Some(Value::Null) => None,
            Some(Value::String(_)) => None,
            Some(_) => return Err("postgres_changes filter must be a string".into()),
        };
        let filter = filter_text.map(Filter::parse).transpose()?;
        let id = binding_id(event_text, &schema, table.as_deref(), filter_text);
        let mut echo = obj.clone();
        echo.insert("id".into(), Value::from(id));
        Ok(Binding { id, event, schema, table, filter, echo: Value::Object(echo) })
    }

    /// Whether this binding covers `schema.table`.
    pub fn covers(&self, schema: &str, table: &str) -> bool {
        (self.schema == "*" || self.schema == schema) && self.table.as_deref().is_none_or(|t| t == table)
    }

    /// Whether this binding wants a change of `kind` with these values. `types`
    /// gives a column's type name, so values compare as that type does.
    pub fn wants(&self, kind: ChangeKind, values: &Map<String, Value>, types: &dyn Fn(&str) -> Option<String>) -> bool {
        let kind_ok = match self.event {
            EventKind::All => true,
            EventKind::Insert => kind == ChangeKind::Insert,
            EventKind::Update => kind == ChangeKind::Update,
            EventKind::Delete => kind == ChangeKind::Delete,
        };
        kind_ok
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.accepts(values, types(&f.column).as_deref()))
    }
}

/// A stable id for a binding (FNV-1a over its parameters), like Supabase's
/// `phash2` of the subscription parameters.
fn binding_id(event: &str, schema: &str, table: Option<&str>, filter: Option<&str>) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in [event, schema, table.unwrap_or("*"), filter.unwrap_or("")] {
        for b in part.bytes().chain([0u8]) {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    (hash & 0x07ff_ffff).max(1)
}

impl Filter {
    /// Parses `column=op.value`; `in` takes `(a,b,"c d")`.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let invalid = || format!("invalid filter {text:?}: expected column=op.value with op one of eq, neq, lt, lte, gt, gte, in");
        let (column, rest) = text.split_once('=').ok_or_else(invalid)?;
        let (op, value) = rest.split_once('.').ok_or_else(invalid)?;
        let column = column.trim();
        if column.is_empty() {
            return Err(invalid());
        }
        let op = match op {
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "in" => Op::In,
            _ => return Err(invalid()),
        };
        let values = if op == Op::In {
            let inner = value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| format!("invalid filter {text:?}: in takes a list such as in.(1,2,3)"))?;
            split_list(inner)
        } else {
            vec![value.to_owned()]
        };
        Ok(Filter { column: column.to_owned(), op, values })
    }

    /// Whether a row with `values` passes. `column_type` is the column's type
    /// name; a null or missing value never passes, as in SQL.
    pub fn accepts(&self, values: &Map<String, Value>, column_type: Option<&str>) -> bool {
        let Some(value) = values.get(&self.column) else {
            return false;
        };
        let cmp = |lit: &str| compare(value, lit, column_type);
        match self.op {
            Op::Eq => cmp(&self.values[0]) == Some(Ordering::Equal),
            Op::Neq => matches!(cmp(&self.values[0]), Some(o) if o != Ordering::Equal),
            Op::Lt => cmp(&self.values[0]) == Some(Ordering::Less),
            Op::Lte => matches!(cmp(&self.values[0]), Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => cmp(&self.values[0]) == Some(Ordering::Greater),
            Op::Gte => matches!(cmp(&self.values[0]), Some(Ordering::Greater | Ordering::Equal)),
            Op::In => self.values.iter().any(|v| cmp(v) == Some(Ordering::Equal)),
        }
    }
}

/// Splits `a,"b,c",d` on commas outside double quotes, unquoting.
fn split_list(inner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    out.push(current.trim().to_owned());
    out
}

/// Compares a row value with a filter literal the way the column's type would.
fn compare(value: &Value, literal: &str, column_type: Option<&str>) -> Option<Ordering> {
    match value {
        Value::Null => None,
        Value::Number(n) => compare_numbers(&n.to_string(), literal.trim()),
        Value::Bool(b) => {
            let lit = match literal.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => true,
                "f" | "false" | "n" | "no" | "off" | "0" => false,
                _ => return None,
            };
            Some(b.cmp(&lit))
        }
        Value::String(s) => match column_type {
            Some("timestamptz" | "timestamp" | "date") => compare_times(s, literal).or_else(|| Some(s.as_str().cmp(literal))),
            Some("uuid") => Some(s.to_ascii_lowercase().cmp(&literal.to_ascii_lowercase())),
            Some(t) if is_numeric_type(t) => compare_numbers(s, literal.trim()),
            _ => Some(s.as_str().cmp(literal)),
        },
        Value::Array(_) | Value::Object(_) => {
            let lit: Value = serde_json::from_str(literal).ok()?;
            (value == &lit).then_some(Ordering::Equal)
        }
    }
}

fn is_numeric_type(t: &str) -> bool {
    matches!(t, "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" | "oid")
}

fn compare_numbers(a: &str, b: &str) -> Option<Ordering> {
    if let (Ok(x), Ok(y)) = (a.parse::<i128>(), b.parse::<i128>()) {
        return Some(x.cmp(&y));
    }
    let (x, y) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
    x.partial_cmp(&y)
}

fn compare_times(a: &str, b: &str) -> Option<Ordering> {
    let parse = |s: &str| -> Option<chrono::NaiveDateTime> {
        let s = s.trim().replace(' ', "T");
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s) {
            return Some(t.naive_utc());
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z"] {
            if let Ok(t) = chrono::DateTime::parse_from_str(&s, fmt) {
                return Some(t.naive_utc());
            }
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(t);
        }
        chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
    };
    Some(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn no_types(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_binding_echoes_what_the_client_sent_with_an_id() {
        let b = Binding::parse(&json!({"event":"*","schema":"public","table":"leads","filter":"caller_id=eq.42"})).unwrap();
        assert_eq!(b.echo["filter"], json!("caller_id=eq.42"));
        assert_eq!(b.echo["id"], json!(b.id));
        assert!(b.id > 0);
        let same = Binding::parse(&json!({"event":"*","schema":"public","table":"leads","filter":"caller_id=eq.42"})).unwrap();
        assert_eq!(b.id, same.id);
        let other = Binding::parse(&json!({"event":"INSERT","schema":"public","table":"leads"})).unwrap();
        assert_ne!(b.id, other.id);
    }

    #[test]
    fn an_unknown_event_or_operator_is_refused() {
        assert!(Binding::parse(&json!({"event":"TRUNCATE","schema":"public"})).is_err());
        assert!(Binding::parse(&json!({"event":"*","schema":"public","filter":"a=like.x"})).is_err());
        assert!(Binding::parse(&json!({"event":"*","schema":"public","filter":"nonsense"})).is_err());
        assert!(Binding::parse(&json!("leads")).is_err());
    }

    #[test]
    fn a_wildcard_schema_covers_every_table() {
        let b = Binding::parse(&json!({"event":"*","schema":"*"})).unwrap();
        assert!(b.covers("public", "leads"));
        let b = Binding::parse(&json!({"event":"*","schema":"public","table":"leads"})).unwrap();
        assert!(!b.covers("public", "callers"));
    }

    #[test]
    fn number_filters_compare_numerically() {
        let r = row(json!({"caller_id": 42}));
        let accepts = |f: &str| Filter::parse(f).unwrap().accepts(&r, Some("int8"));
        assert!(accepts("caller_id=eq.42"));
        assert!(!accepts("caller_id=neq.42"));
        assert!(accepts("caller_id=gt.9"));
        assert!(accepts("caller_id=gte.42"));
        assert!(!accepts("caller_id=lt.42"));
        assert!(accepts("caller_id=lte.42"));
        assert!(accepts("caller_id=in.(1,42,7)"));
        assert!(!accepts("caller_id=in.(1,7)"));
    }

    #[test]
    fn text_filters_compare_text_and_in_lists_unquote() {
        let r = row(json!({"state": "MH", "city": "New Delhi, South"}));
        assert!(Filter::parse("state=in.(MH,KA)").unwrap().accepts(&r, Some("text")));
        assert!(Filter::parse(r#"city=in.("New Delhi, South",x)"#).unwrap().accepts(&r, Some("text")));
        assert!(!Filter::parse("state=eq.mh").unwrap().accepts(&r, Some("text")));
    }

    #[test]
    fn null_and_missing_values_never_pass() {
        let r = row(json!({"caller_id": null}));
        assert!(!Filter::parse("caller_id=eq.1").unwrap().accepts(&r, None));
        assert!(!Filter::parse("caller_id=neq.1").unwrap().accepts(&r, None));
        assert!(!Filter::parse("other=neq.1").unwrap().accepts(&r, None));
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let r = row(json!({"at": "2026-11-19T05:30:00+05:30"}));
        let f = Filter::parse("at=eq.2026-11-19T00:00:00Z").unwrap();
        assert!(f.accepts(&r, Some("timestamptz")));
        assert!(Filter::parse("at=lt.2026-11-20").unwrap().accepts(&r, Some("timestamptz")));
    }

    #[test]
    fn the_event_kind_must_match() {
        let b = Binding::parse(&json!({"event":"delete","schema":"public","table":"leads"})).unwrap();
        assert!(b.wants(ChangeKind::Delete, &Map::new(), &no_types));
        assert!(!b.wants(ChangeKind::Insert, &Map::new(), &no_types));
    }
}

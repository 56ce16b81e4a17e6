//! Canonical JSON: one text for one value, whatever the order of an object's keys or whether an
//! absent field was written as `null` — what the idempotency store hashes and what a producer
//! signs, so that the same event delivered again (replayed, redriven, forwarded losslessly) reads
//! the same.

use serde_json::Value;

/// JSON text with every object's keys sorted and its null members left out: maps keep their
/// senders' key order (serde_json's `preserve_order`, for lossless republishing), and an absent
/// optional field is written either way; neither must change the text. Separators are fixed
/// (`,` and `:`, no spaces), strings are escaped as serde_json escapes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Appends the canonical JSON of `value` to `out`.
pub(crate) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `text` as a JSON string, with serde_json's escaping.
pub(crate) fn write_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::canonical_json;
    use serde_json::json;

    #[test]
    fn one_text_for_one_value_and_a_different_one_for_another() {
        let a = json!({"b": {"y": 1, "x": [2, {"q": 1, "p": 2}]}, "a": "1.50", "n": null});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":"1.50","b":{"x":[2,{"p":2,"q":1}],"y":1}}"#
        );
        // Separators matter: `[1,2]` and `[12]` are different values.
        assert_ne!(canonical_json(&json!([1, 2])), canonical_json(&json!([12])));
        assert_ne!(
            canonical_json(&json!({"a": "b", "c": "d"})),
            canonical_json(&json!({"a": "b,\"c\":\"d"}))
        );
        assert_eq!(canonical_json(&json!("a\"b\n")), r#""a\"b\n""#);
    }
}

//! `response_format` as a llama.cpp grammar (GBNF), so that the output of
//! `json_object` and `json_schema` requests always parses.
//!
//! The schema subset: `type` (one or a list), `properties` (all emitted, in
//! the schema's order, which satisfies `required`), `items` with `minItems`
//! and `maxItems`, `enum`, `const`, `anyOf`/`oneOf`, nested objects and
//! arrays. Anything else that would
//! constrain values (`$ref`, `pattern`, `minLength`…) is refused with a clear
//! error rather than silently ignored.

use serde_json::Value;

/// Generic JSON, with bounded white space (small models otherwise loop on
/// new lines).
const JSON_RULES: &str = r#"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws
array ::= "[" ws ( value ( "," ws value )* )? "]" ws
string ::= "\"" char* "\"" ws
char ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] )
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? ws
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ws
boolean ::= ( "true" | "false" ) ws
null ::= "null" ws
ws ::= [ \t\n]{0,8}
"#;

/// Any JSON object.
pub fn json_object() -> String {
    format!("root ::= object{JSON_RULES}")
}

/// A grammar for documents valid against `schema`.
pub fn json_schema(schema: &Value) -> Result<String, String> {
    let mut rules = Vec::new();
    let root = rule_for(schema, "root", &mut rules)?;
    let mut g = format!("root ::= {root}\n");
    for (name, body) in rules {
        g.push_str(&format!("{name} ::= {body}\n"));
    }
    g.push_str(JSON_RULES);
    Ok(g)
}

fn literal(v: &Value) -> String {
    // A JSON literal as a GBNF string: escape backslashes and quotes.
    let text = v.to_string();
    format!("\"{}\" ws", text.replace('\\', "\\\\").replace('"', "\\\""))
}

const UNSUPPORTED: &[&str] = &[
    "$ref",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "allOf",
    "not",
    "patternProperties",
    "format",
    "uniqueItems",
    "prefixItems",
];

fn rule_for(schema: &Value, path: &str, rules: &mut Vec<(String, String)>) -> Result<String, String> {
    let Some(obj) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok("value".into()),
            _ => Err(format!("{path}: a schema must be an object")),
        };
    };
    if let Some(k) = UNSUPPORTED.iter().find(|k| obj.contains_key(**k)) {
        return Err(format!("{path}: the schema keyword `{k}` is not supported"));
    }
    if let Some(c) = obj.get("const") {
        return Ok(literal(c));
    }
    if let Some(e) = obj.get("enum") {
        let items =
            e.as_array().filter(|a| !a.is_empty()).ok_or(format!("{path}: `enum` must be a non-empty array"))?;
        return Ok(format!("( {} )", items.iter().map(literal).collect::<Vec<_>>().join(" | ")));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = obj.get(key) {
            let alts = alts
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or(format!("{path}: `{key}` must be a non-empty array"))?;
            let parts = alts
                .iter()
                .enumerate()
                .map(|(i, a)| rule_for(a, &format!("{path}-{i}"), rules))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(format!("( {} )", parts.join(" | ")));
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        None => return Ok("value".into()),
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(format!("{path}: `type` must be a string or an array of strings")),
    };
    let mut alts = Vec::new();
    for t in types {
        alts.push(match t {
            "string" => "string".to_string(),
            "number" => "number".to_string(),
            "integer" => "integer".to_string(),
            "boolean" => "boolean".to_string(),
            "null" => "null".to_string(),
            "array" => {
                let bound = |k: &str| {
                    obj.get(k).map(|v| v.as_u64().ok_or(format!("{path}: `{k}` must be a non-negative integer")))
                };
                let min = bound("minItems").transpose()?.unwrap_or(0);
                let max = bound("maxItems").transpose()?;
                if max.is_some_and(|m| m < min) {
                    return Err(format!("{path}: `maxItems` is below `minItems`"));
                }
                let item = match obj.get("items") {
                    None => "value".to_string(),
                    Some(items) => rule_for(items, &format!("{path}-item"), rules)?,
                };
                // Bounded repetition keeps small models from looping forever.
                let more = match max {
                    Some(m) => format!("{{{},{}}}", min.saturating_sub(1), m.saturating_sub(1)),
                    None => format!("{{{},}}", min.saturating_sub(1)),
                };
                let body = match (min, max) {
                    (_, Some(0)) => String::new(),
                    (0, _) => format!("( {item} ( \",\" ws {item} ){more} )?"),
                    _ => format!("{item} ( \",\" ws {item} ){more}"),
                };
                let name = format!("{path}-array");
                rules.push((name.clone(), format!("\"[\" ws {body} \"]\" ws")));
                name
            }
            "object" => match obj.get("properties").and_then(Value::as_object) {
                None => "object".to_string(),
                Some(props) if props.is_empty() => "\"{\" ws \"}\" ws".to_string(),
                Some(props) => {
                    let mut parts = Vec::new();
                    for (i, (k, v)) in props.iter().enumerate() {
                        let safe: String = k.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
                        let value = rule_for(v, &format!("{path}-{safe}"), rules)?;
                        let sep = if i == 0 { "" } else { "\",\" ws " };
                        parts.push(format!("{sep}{} \":\" ws {value}", literal(&Value::String(k.clone()))));
                    }
                    let name = format!("{path}-object");
                    rules.push((name.clone(), format!("\"{{\" ws {} \"}}\" ws", parts.join(" "))));
                    name
                }
            },
            other => return Err(format!("{path}: unknown type `{other}`")),
        });
    }
    if alts.is_empty() {
        return Err(format!("{path}: `type` is empty"));
    }
    Ok(if alts.len() == 1 { alts.remove(0) } else { format!("( {} )", alts.join(" | ")) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_rules_cover_nested_objects_arrays_and_enums() {
        let g = json_schema(&json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "owner": {"enum": ["alice", "bob"]},
                "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                "done": {"type": ["boolean", "null"]}
            },
            "required": ["title"]
        }))
        .unwrap();
        assert!(g.starts_with("root ::= root-object\n"), "{g}");
        assert!(
            g.contains(r#"root-object ::= "{" ws "\"title\"" ws ":" ws string "," ws "\"owner\"" ws ":" ws ( "\"alice\"" ws | "\"bob\"" ws )"#),
            "properties keep the schema's order: {g}"
        );
        assert!(
            g.contains(
                "root-items-array ::= \"[\" ws ( root-items-item-object ( \",\" ws root-items-item-object ){0,} )?"
            ),
            "{g}"
        );
        assert!(g.contains("( boolean | null )"), "{g}");
        let g =
            json_schema(&json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3})).unwrap();
        assert!(g.contains(r#"root-array ::= "[" ws string ( "," ws string ){0,2} "]" ws"#), "{g}");
        assert!(json_schema(&json!({"type": "array", "minItems": 3, "maxItems": 1})).is_err());
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let e = json_schema(&json!({"type": "string", "pattern": "^a"})).unwrap_err();
        assert!(e.contains("pattern"), "{e}");
        assert!(json_schema(&json!({"type": "thing"})).is_err());
        assert!(json_schema(&json!(3)).is_err());
    }
}

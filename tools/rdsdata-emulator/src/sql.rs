//! Named parameters: `:name` placeholders become `$n` positional ones, outside string
//! literals, quoted identifiers, comments and `::` casts.

/// Rewrites `sql`, calling `bind(name)` for each placeholder; `bind` returns the text
/// to put in its place (e.g. `$1::int8`, or `NULL`), or an error.
pub fn rewrite(
    sql: &str,
    mut bind: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                // Literal or quoted identifier; a doubled quote escapes itself.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == c {
                        if i + 1 < chars.len() && chars[i + 1] == c {
                            out.push(c);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push_str("*/");
                    i += 2;
                }
            }
            '$' => {
                // Dollar-quoted string: $tag$ ... $tag$
                let start = i;
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j < chars.len() && chars[j] == '$' {
                    let tag: String = chars[start..=j].iter().collect();
                    let rest: String = chars[j + 1..].iter().collect();
                    match rest.find(&tag) {
                        Some(end) => {
                            out.push_str(&tag);
                            out.push_str(&rest[..end + tag.len()]);
                            i = j + 1 + rest[..end + tag.len()].chars().count();
                        }
                        None => {
                            out.push_str(&tag);
                            out.push_str(&rest);
                            i = chars.len();
                        }
                    }
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push_str("::");
                i += 2;
            }
            ':' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
            {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&bind(&name)?);
                i = j;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(sql: &str) -> String {
        let mut names = Vec::new();
        rewrite(sql, |n| {
            names.push(n.to_string());
            Ok(format!("${}", names.len()))
        })
        .expect("rewrites")
    }

    #[test]
    fn placeholders_outside_literals_casts_and_comments() {
        assert_eq!(
            numbered("SELECT :a::text, ':b', \"x:y\", c -- :d\n WHERE e = :e_2 /* :f */"),
            "SELECT $1::text, ':b', \"x:y\", c -- :d\n WHERE e = $2 /* :f */"
        );
        assert_eq!(numbered("SELECT 'it''s :x', :y"), "SELECT 'it''s :x', $1");
        assert_eq!(numbered("SELECT $q$ :x $q$, :y"), "SELECT $q$ :x $q$, $1");
        assert_eq!(numbered("SELECT $1"), "SELECT $1");
    }

    #[test]
    fn binder_errors_propagate() {
        assert!(rewrite("SELECT :missing", |n| Err(format!("no parameter {n}"))).is_err());
    }
}

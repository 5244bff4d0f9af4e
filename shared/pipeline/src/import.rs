//! Bulk import: CSV (with a header row) or JSON-lines files of customers, items,
//! purchases and ratings, and MovieLens 100k folders. Every row is validated first,
//! with the same rules as the warehouse's constraints; if any row is bad, every bad
//! row is reported with its file and line and nothing is loaded.
//!
//! Columns (JSON-lines: the same names as object keys):
//! - customers: `customer_id, birth_year?, gender? (F|M|X), region?`
//! - items: `item_id, category?, brand?, price? (>= 0), tags? (comma-separated), active? (true|false, default true)`
//! - purchases: `purchase_id, customer_id, item_id, quantity (> 0), purchased_at (RFC 3339)`
//! - ratings: `customer_id, item_id, rating (1-5), rated_at (RFC 3339)`

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reco_core::warehouse::{Customer, ImportBatch, Item, Purchase, Rating};
use reco_core::Timestamp;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Customers,
    Items,
    Purchases,
    Ratings,
}

/// A kind of import file that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of customers, items, purchases, ratings")]
pub struct UnknownKind(pub String);

impl std::str::FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        match s {
            "customers" => Ok(Kind::Customers),
            "items" => Ok(Kind::Items),
            "purchases" => Ok(Kind::Purchases),
            "ratings" => Ok(Kind::Ratings),
            other => Err(UnknownKind(other.to_string())),
        }
    }
}

/// A bad row: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", .0.iter().take(50).map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    BadRows(Vec<RowError>),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the header row: {source}", path.display())]
    Header {
        path: std::path::PathBuf,
        #[source]
        source: csv::Error,
    },
    /// No file held a row.
    #[error("nothing to import")]
    Empty,
    #[error(transparent)]
    Warehouse(#[from] reco_core::WarehouseError),
}

type Fields = HashMap<String, String>;

fn get<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// What is wrong with one field of a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
struct FieldError {
    field: String,
    problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

fn id(f: &Fields, name: &str) -> Result<String, FieldError> {
    get(f, name)
        .map(str::to_string)
        .ok_or_else(|| bad(name, "required and must not be empty"))
}

fn int(f: &Fields, name: &str) -> Result<Option<i64>, FieldError> {
    get(f, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| bad(name, format!("`{v}` is not a whole number")))
        })
        .transpose()
}

fn time_of(f: &Fields, name: &str) -> Result<Timestamp, FieldError> {
    let v = get(f, name).ok_or_else(|| bad(name, "required"))?;
    if let Ok(secs) = v.parse::<i64>() {
        return Ok(Timestamp(secs * 1000));
    }
    Timestamp::parse_rfc3339(v).ok_or_else(|| {
        bad(
            name,
            format!("`{v}` is not an RFC 3339 date-time or epoch seconds"),
        )
    })
}

fn parse_row(kind: Kind, f: &Fields, batch: &mut ImportBatch) -> Result<(), FieldError> {
    match kind {
        Kind::Customers => {
            let birth_year = int(f, "birth_year")?.map(|y| y as i32);
            if let Some(y) = birth_year {
                if !(1900..=2100).contains(&y) {
                    return Err(bad("birth_year", format!("{y} is outside 1900..=2100")));
                }
            }
            let gender = get(f, "gender").map(str::to_uppercase);
            if let Some(g) = &gender {
                if !matches!(g.as_str(), "F" | "M" | "X") {
                    return Err(bad("gender", format!("`{g}` is not F, M or X")));
                }
            }
            batch.customers.push(Customer {
                customer_id: id(f, "customer_id")?,
                birth_year,
                gender,
                region: get(f, "region").map(str::to_string),
            });
        }
        Kind::Items => {
            let price = get(f, "price")
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| bad("price", format!("`{v}` is not a number")))
                })
                .transpose()?;
            if let Some(p) = price {
                if !(p.is_finite() && p >= 0.0) {
                    return Err(bad("price", format!("{p} must be >= 0")));
                }
            }
            let active = match get(f, "active") {
                None => true,
                Some(v) => match v.to_lowercase().as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(bad("active", format!("`{v}` is not true or false"))),
                },
            };
            batch.items.push(Item {
                item_id: id(f, "item_id")?,
                category: get(f, "category").map(str::to_string),
                brand: get(f, "brand").map(str::to_string),
                price,
                tags: get(f, "tags").unwrap_or("").to_string(),
                active,
            });
        }
        Kind::Purchases => {
            let quantity = int(f, "quantity")?.ok_or_else(|| bad("quantity", "required"))?;
            if quantity <= 0 || quantity > i64::from(i32::MAX) {
                return Err(bad(
                    "quantity",
                    format!("{quantity} must be a positive whole number"),
                ));
            }
            batch.purchases.push(Purchase {
                purchase_id: id(f, "purchase_id")?,
                customer_id: id(f, "customer_id")?,
                item_id: id(f, "item_id")?,
                quantity: quantity as i32,
                purchased_at: time_of(f, "purchased_at")?,
            });
        }
        Kind::Ratings => {
            let rating = int(f, "rating")?.ok_or_else(|| bad("rating", "required"))?;
            if !(1..=5).contains(&rating) {
                return Err(bad("rating", format!("{rating} is outside 1..=5")));
            }
            batch.ratings.push(Rating {
                customer_id: id(f, "customer_id")?,
                item_id: id(f, "item_id")?,
                rating: rating as i32,
                rated_at: time_of(f, "rated_at")?,
            });
        }
    }
    Ok(())
}

/// Parses one file (`.csv` with a header, or `.jsonl`/`.ndjson`) into `batch`,
/// collecting bad rows into `errors`.
pub fn read_file(
    path: &Path,
    kind: Kind,
    batch: &mut ImportBatch,
    errors: &mut Vec<RowError>,
) -> Result<(), ImportError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let jsonl = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    );
    let mut bad = |line: usize, message: String| {
        errors.push(RowError {
            file: name.clone(),
            line,
            message,
        })
    };
    if jsonl {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Fields =
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
                    Ok(map) => map
                        .into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| {
                            (
                                k,
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    Err(e) => {
                        bad(n + 1, format!("not a JSON object: {e}"));
                        continue;
                    }
                };
            if let Err(m) = parse_row(kind, &fields, batch) {
                bad(n + 1, m.to_string());
            }
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|source| ImportError::Header {
                path: path.to_path_buf(),
                source,
            })?
            .clone();
        for record in reader.records() {
            match record {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line() as usize);
                    let fields: Fields = headers
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| (h.to_string(), v.to_string()))
                        .collect();
                    if let Err(m) = parse_row(kind, &fields, batch) {
                        bad(line, m.to_string());
                    }
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    bad(line, format!("malformed CSV: {e}"));
                }
            }
        }
    }
    Ok(())
}

/// Reads every file; fails with every bad row if any is bad.
pub fn read_files(files: &[(PathBuf, Kind)]) -> Result<ImportBatch, ImportError> {
    let mut batch = ImportBatch::default();
    let mut errors = Vec::new();
    for (path, kind) in files {
        read_file(path, *kind, &mut batch, &mut errors)?;
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        Err(ImportError::BadRows(errors))
    }
}

/// Imports all or nothing: a MovieLens folder and/or files are read and every row is
/// checked first; only if every row passed is the whole batch loaded, in one
/// transaction of the warehouse. Returns what was loaded.
pub async fn import(
    warehouse: &dyn reco_core::Warehouse,
    movielens: Option<&Path>,
    files: &[(PathBuf, Kind)],
) -> Result<ImportBatch, ImportError> {
    let mut batch = match movielens {
        Some(dir) => read_movielens(dir)?,
        None => ImportBatch::default(),
    };
    let more = read_files(files)?;
    batch.customers.extend(more.customers);
    batch.items.extend(more.items);
    batch.purchases.extend(more.purchases);
    batch.ratings.extend(more.ratings);
    if batch.is_empty() {
        return Err(ImportError::Empty);
    }
    warehouse.load(&batch).await?;
    Ok(batch)
}

/// The 19 genre flags of MovieLens 100k's u.item, in file order.
pub const MOVIELENS_GENRES: [&str; 19] = [
    "unknown",
    "action",
    "adventure",
    "animation",
    "children",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "fantasy",
    "film-noir",
    "horror",
    "musical",
    "mystery",
    "romance",
    "sci-fi",
    "thriller",
    "war",
    "western",
];

/// A MovieLens 100k folder: u.user as customers (birth year = 1998 - age, region = the
/// first digit of the zip code), u.item as items (tags = genres, category = the first
/// genre), u.data as ratings. The files are latin-1.
pub fn read_movielens(dir: &Path) -> Result<ImportBatch, ImportError> {
    let read = |name: &str| -> Result<String, ImportError> {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|source| ImportError::Io { path, source })?;
        Ok(bytes.iter().map(|&b| b as char).collect())
    };
    let mut batch = ImportBatch::default();
    let mut errors = Vec::new();
    let mut bad = |file: &str, line: usize, message: String| {
        errors.push(RowError {
            file: dir.join(file).display().to_string(),
            line,
            message,
        })
    };
    for (n, line) in read("u.user")?.lines().enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        match (
            f.first(),
            f.get(1).and_then(|a| a.parse::<i32>().ok()),
            f.get(2),
            f.get(4),
        ) {
            (Some(id), Some(age), Some(gender), Some(zip)) if !id.is_empty() => {
                batch.customers.push(Customer {
                    customer_id: id.to_string(),
                    birth_year: Some((1998 - age).clamp(1900, 2100)),
                    gender: Some(gender.to_uppercase())
                        .filter(|g| matches!(g.as_str(), "F" | "M" | "X")),
                    region: zip
                        .chars()
                        .next()
                        .filter(char::is_ascii_digit)
                        .map(|d| format!("zip{d}")),
                })
            }
            _ => bad(
                "u.user",
                n + 1,
                "expected id|age|gender|occupation|zip".into(),
            ),
        }
    }
    for (n, line) in read("u.item")?.lines().enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 24 || f[0].is_empty() {
            bad("u.item", n + 1, "expected 24 fields".into());
            continue;
        }
        let genres: Vec<&str> = MOVIELENS_GENRES
            .iter()
            .zip(&f[5..24])
            .filter(|(_, v)| **v == "1")
            .map(|(g, _)| *g)
            .collect();
        batch.items.push(Item {
            item_id: f[0].to_string(),
            category: genres.first().map(|g| g.to_string()),
            brand: None,
            price: None,
            tags: genres.join(","),
            active: true,
        });
    }
    for (n, line) in read("u.data")?.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (f.len() == 4).then(|| (f[2].parse::<i32>(), f[3].parse::<i64>()));
        match parsed {
            Some((Ok(r), Ok(t))) if (1..=5).contains(&r) => batch.ratings.push(Rating {
                customer_id: f[0].to_string(),
                item_id: f[1].to_string(),
                rating: r,
                rated_at: Timestamp(t * 1000),
            }),
            _ => bad(
                "u.data",
                n + 1,
                "expected user item rating(1-5) timestamp".into(),
            ),
        }
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        Err(ImportError::BadRows(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, kind: Kind, text: &str) -> (ImportBatch, Vec<RowError>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (mut batch, mut errors) = (ImportBatch::default(), Vec::new());
        read_file(&path, kind, &mut batch, &mut errors).expect("readable");
        (batch, errors)
    }

    #[test]
    fn csv_rows_are_typed_trimmed_and_defaulted() {
        let (batch, errors) = read(
            "items.csv",
            Kind::Items,
            "item_id,category,brand,price,tags,active\n i1 ,Shoes,,30.5,\"red, sale\",\ni2,,,,,false\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(batch.items.len(), 2);
        let i1 = &batch.items[0];
        assert_eq!(
            (
                i1.item_id.as_str(),
                i1.category.as_deref(),
                i1.brand.as_deref()
            ),
            ("i1", Some("Shoes"), None)
        );
        assert_eq!(
            (i1.price, i1.tags.as_str(), i1.active),
            (Some(30.5), "red, sale", true)
        );
        assert_eq!((batch.items[1].price, batch.items[1].active), (None, false));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_field() {
        let (batch, errors) = read(
            "customers.csv",
            Kind::Customers,
            "customer_id,birth_year,gender,region\nc1,1990,f,North\n,1980,M,\nc3,soon,M,\nc4,1970,Q,\n",
        );
        assert_eq!(batch.customers.len(), 1, "the good row is read");
        assert_eq!(
            batch.customers[0].gender.as_deref(),
            Some("F"),
            "upper-cased"
        );
        let found: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(
            found,
            vec![(3, "customer_id"), (4, "birth_year"), (5, "gender")]
        );
    }

    #[test]
    fn json_lines_skip_blank_lines_and_report_non_objects() {
        let (batch, errors) = read(
            "ratings.jsonl",
            Kind::Ratings,
            "{\"customer_id\":\"c1\",\"item_id\":\"i1\",\"rating\":5,\"rated_at\":\"2026-10-01T00:00:00Z\"}\n\n[1,2]\n{\"customer_id\":\"c2\",\"item_id\":\"i1\",\"rating\":0,\"rated_at\":\"2026-10-01T00:00:00Z\"}\n",
        );
        assert_eq!(batch.ratings.len(), 1);
        assert_eq!(batch.ratings[0].rating, 5);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(
            errors[0].message.contains("JSON object"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[1].message.contains("rating"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn kinds_parse_from_their_names_only() {
        assert_eq!("ratings".parse::<Kind>(), Ok(Kind::Ratings));
        let e = "orders".parse::<Kind>().expect_err("unknown kind");
        assert_eq!(e, UnknownKind("orders".into()));
        assert!(e.to_string().contains("one of customers"), "{e}");
    }
}

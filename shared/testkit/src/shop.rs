//! A generated shop with planted taste, written as CSV import files: each customer
//! buys and rates mostly items of one category. Returns (file, kind) pairs.

use std::io::Write;
use std::path::Path;

const CUSTOMERS: usize = 240;
const ITEMS: usize = 90;
const GROUPS: usize = 6;

/// A shop with planted taste: each customer buys and rates items of one category.
pub fn write_shop(dir: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
    let mut seed = 11u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let file = |name: &str, header: &str, rows: Vec<String>| {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("file");
        writeln!(f, "{header}").expect("write");
        for r in rows {
            writeln!(f, "{r}").expect("write");
        }
        path
    };
    let customers: Vec<String> = (0..CUSTOMERS)
        .map(|c| {
            format!(
                "c{c},{},{},region{}",
                1950 + c % 50,
                ["F", "M", "X"][c % 3],
                c % 4
            )
        })
        .collect();
    let items: Vec<String> = (0..ITEMS)
        .map(|i| {
            format!(
                "i{i},cat{},brand{},{}.50,\"tag{},sale\",true",
                i % GROUPS,
                i % 7,
                5 + i,
                i % GROUPS
            )
        })
        .collect();
    let mut purchases = Vec::new();
    let mut ratings = Vec::new();
    for c in 0..CUSTOMERS {
        let group = c % GROUPS;
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..12 {
            // Mostly the customer's category, popular items more often.
            let item = if k == 11 {
                next(ITEMS)
            } else {
                let j = next(ITEMS / GROUPS).min(next(ITEMS / GROUPS));
                j * GROUPS + group
            };
            if !seen.insert(item) {
                continue;
            }
            let day = 1 + k;
            if k % 2 == 0 {
                purchases.push(format!(
                    "p{c}-{k},c{c},i{item},1,2026-10-{day:02}T10:00:00Z"
                ));
            } else {
                ratings.push(format!(
                    "c{c},i{item},{},2026-10-{day:02}T12:00:00Z",
                    4 + k % 2
                ));
            }
        }
    }
    vec![
        (
            file(
                "customers.csv",
                "customer_id,birth_year,gender,region",
                customers,
            ),
            "customers",
        ),
        (
            file(
                "items.csv",
                "item_id,category,brand,price,tags,active",
                items,
            ),
            "items",
        ),
        (
            file(
                "purchases.csv",
                "purchase_id,customer_id,item_id,quantity,purchased_at",
                purchases,
            ),
            "purchases",
        ),
        (
            file(
                "ratings.csv",
                "customer_id,item_id,rating,rated_at",
                ratings,
            ),
            "ratings",
        ),
    ]
}

//! A generated shop for `reco demo`: a catalogue with categories and attributes,
//! customers with a few demographic fields, their purchases and ratings, and visitor
//! sessions, all driven by planted taste so that a trained model has something to find
//! that popularity does not: each visitor favours one category and one style within
//! it, and demographics lean towards tastes (region towards categories, age towards
//! styles). Reproducible from its seed.

use reco_core::warehouse::{Customer, ImportBatch, Item, Purchase, Rating};
use reco_core::Timestamp;
use serde::Serialize;

pub const CATEGORIES: &[&str] = &[
    "shoes", "jackets", "bags", "hats", "watches", "books", "games", "kitchen",
];
pub const STYLES: &[&str] = &["classic", "sport", "eco"];
const BRANDS: &[&str] = &[
    "Acme", "Borealis", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor",
];
const REGIONS: &[&str] = &["north", "south", "east", "west"];

/// How big a shop to generate.
#[derive(Debug, Clone, Copy)]
pub struct ShopSize {
    pub items_per_category: usize,
    pub customers: usize,
    pub sessions: usize,
}

impl Default for ShopSize {
    fn default() -> Self {
        ShopSize {
            items_per_category: 60,
            customers: 400,
            sessions: 2_000,
        }
    }
}

/// A visitor session to replay: views in order; a customer logs in before view
/// `login_at` (0: from the start), anonymous visitors have none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub session_id: String,
    pub customer_id: Option<String>,
    pub login_at: usize,
    pub views: Vec<String>,
}

/// What the storefront shows of an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub item_id: String,
    pub name: String,
    pub category: String,
    pub style: String,
    pub brand: String,
    pub price: f64,
}

/// The generated shop.
pub struct Shop {
    pub batch: ImportBatch,
    pub sessions: Vec<Session>,
    pub products: Vec<Product>,
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index drawn with probability proportional to `weights`.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// A visitor's taste: a category and a style.
#[derive(Clone, Copy)]
struct Taste {
    category: usize,
    style: usize,
}

/// Generates a shop of `size` from `seed`, its purchases and ratings in the 90 days
/// before `now`.
pub fn generate(seed: u64, size: ShopSize, now: Timestamp) -> Shop {
    let mut rng = Rng(seed ^ 0x5EED_0F5E_55E5);
    const DAY_MS: i64 = 86_400_000;
    let past = |rng: &mut Rng| {
        Timestamp(
            now.millis()
                - DAY_MS
                - rng.below(89) as i64 * DAY_MS
                - rng.below(DAY_MS as usize) as i64,
        )
    };
    let per = size.items_per_category.max(STYLES.len());
    // Items: per category, styles in turn; popularity falls off within each style
    // (a few best sellers, a long tail).
    let mut products = Vec::new();
    let mut items = Vec::new();
    let mut appeal = Vec::new();
    for (c, category) in CATEGORIES.iter().enumerate() {
        for n in 0..per {
            let style = n % STYLES.len();
            let rank = n / STYLES.len();
            let brand = BRANDS[(c * 3 + style * 2 + rng.below(2)) % BRANDS.len()];
            let base = [40.0, 90.0, 60.0, 20.0, 150.0, 15.0, 45.0, 30.0][c];
            let price =
                ((base * (0.6 + 0.3 * style as f64 + 0.5 * rng.unit())) * 100.0).round() / 100.0;
            let item_id = format!("{category}-{n:03}");
            let sale = rng.below(5) == 0;
            items.push(Item {
                item_id: item_id.clone(),
                category: Some(category.to_string()),
                brand: Some(brand.to_string()),
                price: Some(price),
                tags: if sale {
                    format!("{},sale", STYLES[style])
                } else {
                    STYLES[style].to_string()
                },
                active: true,
            });
            products.push(Product {
                item_id,
                name: product_name(brand, rank, STYLES[style], category),
                category: category.to_string(),
                style: STYLES[style].to_string(),
                brand: brand.to_string(),
                price,
            });
            appeal.push(1.0 / (1.0 + rank as f64).powf(0.8));
        }
    }
    let in_taste: Vec<Vec<usize>> = (0..CATEGORIES.len() * STYLES.len())
        .map(|cs| {
            let (c, s) = (cs / STYLES.len(), cs % STYLES.len());
            (0..per)
                .filter(|n| n % STYLES.len() == s)
                .map(|n| c * per + n)
                .collect()
        })
        .collect();
    let pick_in_taste = |rng: &mut Rng, t: Taste| {
        let pool = &in_taste[t.category * STYLES.len() + t.style];
        let w: Vec<f64> = pool.iter().map(|&i| appeal[i]).collect();
        pool[rng.weighted(&w)]
    };
    // Anything, by appeal: what a visitor without taste, or off taste, looks at.
    let pick_any = |rng: &mut Rng| rng.weighted(&appeal);
    // Region leans towards two categories, age towards a style.
    let taste_of = |rng: &mut Rng, region: usize, birth_year: i32| {
        let category = if rng.unit() < 0.6 {
            (region * 2 + rng.below(2)) % CATEGORIES.len()
        } else {
            rng.below(CATEGORIES.len())
        };
        let age_style = match birth_year {
            ..=1969 => 0,
            1970..=1989 => 2,
            _ => 1,
        };
        let style = if rng.unit() < 0.6 {
            age_style
        } else {
            rng.below(STYLES.len())
        };
        Taste { category, style }
    };

    let mut batch = ImportBatch {
        items,
        ..Default::default()
    };
    let mut tastes = Vec::new();
    for c in 0..size.customers {
        let region = rng.below(REGIONS.len());
        let birth_year = 1945 + rng.below(60) as i32;
        let customer_id = format!("cust-{c:04}");
        batch.customers.push(Customer {
            customer_id: customer_id.clone(),
            birth_year: Some(birth_year),
            gender: Some(["F", "M", "X"][rng.below(3)].to_string()),
            region: Some(REGIONS[region].to_string()),
        });
        let taste = taste_of(&mut rng, region, birth_year);
        tastes.push(taste);
        for p in 0..2 + rng.below(5) {
            let item = if rng.unit() < 0.8 {
                pick_in_taste(&mut rng, taste)
            } else {
                pick_any(&mut rng)
            };
            batch.purchases.push(Purchase {
                purchase_id: format!("order-{c:04}-{p}"),
                customer_id: customer_id.clone(),
                item_id: products[item].item_id.clone(),
                quantity: 1 + rng.below(2) as i32,
                purchased_at: past(&mut rng),
            });
        }
        for _ in 0..rng.below(4) {
            // Loved in taste, disliked off taste.
            let (item, rating) = if rng.unit() < 0.7 {
                (pick_in_taste(&mut rng, taste), 4 + rng.below(2) as i32)
            } else {
                (pick_any(&mut rng), 1 + rng.below(2) as i32)
            };
            batch.ratings.push(Rating {
                customer_id: customer_id.clone(),
                item_id: products[item].item_id.clone(),
                rating,
                rated_at: past(&mut rng),
            });
        }
    }
    batch
        .ratings
        .sort_by(|a, b| (&a.customer_id, &a.item_id).cmp(&(&b.customer_id, &b.item_id)));
    batch
        .ratings
        .dedup_by(|a, b| a.customer_id == b.customer_id && a.item_id == b.item_id);

    // Sessions: a third by customers (half of them log in part way), the rest by
    // anonymous visitors whose taste follows the same demographics unseen.
    let mut sessions = Vec::with_capacity(size.sessions);
    for s in 0..size.sessions {
        let customer = (size.customers > 0 && rng.below(3) == 0).then(|| rng.below(size.customers));
        let taste = match customer {
            Some(c) => tastes[c],
            None => {
                let (region, year) = (rng.below(REGIONS.len()), 1945 + rng.below(60) as i32);
                taste_of(&mut rng, region, year)
            }
        };
        let length = 3 + rng.below(10);
        let mut views = Vec::with_capacity(length);
        for _ in 0..length {
            let item = if rng.unit() < 0.75 {
                pick_in_taste(&mut rng, taste)
            } else {
                pick_any(&mut rng)
            };
            views.push(products[item].item_id.clone());
        }
        let login_at = match customer {
            Some(_) if rng.below(2) == 0 => 1 + rng.below(length - 1),
            _ => 0,
        };
        sessions.push(Session {
            session_id: format!("visit-{s:05}"),
            customer_id: customer.map(|c| format!("cust-{c:04}")),
            login_at,
            views,
        });
    }
    Shop {
        batch,
        sessions,
        products,
    }
}

/// A name unique within the shop: brand, model, style, kind ("Granite Nova sport
/// watch"), the model numbered once the names run out.
fn product_name(brand: &str, rank: usize, style: &str, category: &str) -> String {
    const MODELS: &[&str] = &[
        "Alto", "Brio", "Cielo", "Delta", "Echo", "Forte", "Gala", "Halo", "Iris", "Jade", "Koa",
        "Luna", "Mira", "Nova", "Orca", "Pico", "Quill", "Rio", "Sol", "Terra",
    ];
    let model = MODELS[rank % MODELS.len()];
    match rank / MODELS.len() {
        0 => format!("{brand} {model} {style} {}", singular(category)),
        n => format!("{brand} {model} {} {style} {}", n + 1, singular(category)),
    }
}

fn singular(category: &str) -> &str {
    match category {
        "shoes" => "shoe",
        "jackets" => "jacket",
        "bags" => "bag",
        "hats" => "hat",
        "watches" => "watch",
        "books" => "book",
        "games" => "game",
        "kitchen" => "kitchen tool",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_780_000_000_000);

    #[test]
    fn the_same_seed_gives_the_same_shop_and_another_seed_another() {
        let size = ShopSize {
            items_per_category: 12,
            customers: 30,
            sessions: 50,
        };
        let a = generate(7, size, NOW);
        let b = generate(7, size, NOW);
        let c = generate(8, size, NOW);
        assert_eq!(a.sessions, b.sessions);
        assert_eq!(a.batch.purchases, b.batch.purchases);
        assert_ne!(a.sessions, c.sessions);
        assert_eq!(a.products.len(), 12 * CATEGORIES.len());
        assert_eq!(a.batch.customers.len(), 30);
        assert_eq!(a.sessions.len(), 50);
    }

    #[test]
    fn sessions_lean_to_one_category_and_some_log_in_part_way() {
        let shop = generate(1, ShopSize::default(), NOW);
        let category = |id: &str| id.split('-').next().unwrap_or("").to_string();
        let mut leaning = 0;
        for s in &shop.sessions {
            let mut counts = std::collections::HashMap::new();
            for v in &s.views {
                *counts.entry(category(v)).or_insert(0) += 1;
            }
            let top = counts.values().copied().max().unwrap_or(0);
            if top * 2 > s.views.len() {
                leaning += 1;
            }
        }
        // Three quarters of views are in taste: most sessions lean to one category.
        assert!(leaning * 10 > shop.sessions.len() * 7, "{leaning}");
        assert!(shop.sessions.iter().any(|s| s.login_at > 0));
        assert!(shop.sessions.iter().any(|s| s.customer_id.is_none()));
        assert!(shop.sessions.iter().all(|s| s.login_at < s.views.len()));
        let names: std::collections::HashSet<&str> =
            shop.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), shop.products.len(), "product names are unique");
    }
}

//! Random networks: every marginal, with and without overrides, equals brute-force
//! enumeration of the joint distribution. The networks go through BIF text, so the reader's
//! row handling is checked along with inference.

use reportq::bayes::{Network, Overrides, bif};

/// SplitMix64: small, seeded, reproducible; no dependency needed for this.
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
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn distribution(&mut self, n: usize) -> Vec<f64> {
        // Occasional exact zeros exercise the 0-probability paths.
        let raw: Vec<f64> = (0..n).map(|_| if self.below(8) == 0 { 0.0 } else { self.unit() + 1e-3 }).collect();
        let sum: f64 = raw.iter().sum();
        if sum == 0.0 {
            return vec![1.0 / n as f64; n];
        }
        raw.iter().map(|x| x / sum).collect()
    }
}

/// A generated network: node v's parents are earlier in `order`.
struct Spec {
    cards: Vec<usize>,
    parents: Vec<Vec<usize>>,
    /// Row-major over parent states (last parent fastest), own state fastest.
    cpts: Vec<Vec<f64>>,
}

impl Spec {
    fn random(rng: &mut Rng) -> Spec {
        let n = 2 + rng.below(6); // 2..=7 nodes
        let cards: Vec<usize> = (0..n).map(|_| 2 + rng.below(3)).collect();
        // A random topological order so parents are not always lower-numbered.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut parents = vec![Vec::new(); n];
        for (pos, &v) in order.iter().enumerate() {
            for &u in &order[..pos] {
                if parents[v].len() < 3 && rng.below(100) < 45 {
                    parents[v].push(u);
                }
            }
            // Parent order in the header is arbitrary too.
            let ps = &mut parents[v];
            for i in (1..ps.len()).rev() {
                ps.swap(i, rng.below(i + 1));
            }
        }
        let cpts = (0..n)
            .map(|v| {
                let rows: usize = parents[v].iter().map(|&p| cards[p]).product();
                (0..rows).flat_map(|_| rng.distribution(cards[v])).collect()
            })
            .collect();
        Spec { cards, parents, cpts }
    }

    fn row_of(&self, v: usize, assignment: &[usize]) -> usize {
        self.parents[v].iter().fold(0, |row, &p| row * self.cards[p] + assignment[p])
    }

    /// BIF text with declarations and rows in shuffled order.
    fn bif(&self, rng: &mut Rng) -> String {
        let n = self.cards.len();
        let state = |v: usize, s: usize| format!("v{v}s{s}");
        let mut out = String::from("network random {\n}\n");
        for v in 0..n {
            let states: Vec<String> = (0..self.cards[v]).map(|s| state(v, s)).collect();
            out += &format!("variable v{v} {{\n  type discrete [ {} ] {{ {} }};\n}}\n", self.cards[v], states.join(", "));
        }
        for v in 0..n {
            let ps = &self.parents[v];
            let row_len = self.cards[v];
            if ps.is_empty() {
                let values: Vec<String> = self.cpts[v].iter().map(f64::to_string).collect();
                out += &format!("probability ( v{v} ) {{\n  table {};\n}}\n", values.join(", "));
                continue;
            }
            let names: Vec<String> = ps.iter().map(|p| format!("v{p}")).collect();
            out += &format!("probability ( v{v} | {} ) {{\n", names.join(", "));
            let rows = self.cpts[v].len() / row_len;
            let mut order: Vec<usize> = (0..rows).collect();
            for i in (1..rows).rev() {
                order.swap(i, rng.below(i + 1));
            }
            for r in order {
                let mut rest = r;
                let mut key = vec![String::new(); ps.len()];
                for (slot, &p) in key.iter_mut().zip(ps).rev() {
                    *slot = state(p, rest % self.cards[p]);
                    rest /= self.cards[p];
                }
                let values: Vec<String> = self.cpts[v][r * row_len..(r + 1) * row_len].iter().map(f64::to_string).collect();
                out += &format!("  ({}) {};\n", key.join(", "), values.join(", "));
            }
            out += "}\n";
        }
        out
    }

    /// Every node's marginal by summing the full joint, with `tables` in place of the CPTs.
    fn brute_force(&self, tables: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let n = self.cards.len();
        let mut marginals: Vec<Vec<f64>> = self.cards.iter().map(|&c| vec![0.0; c]).collect();
        let mut assignment = vec![0usize; n];
        loop {
            let p: f64 = (0..n).map(|v| tables[v][self.row_of(v, &assignment) * self.cards[v] + assignment[v]]).product();
            for v in 0..n {
                marginals[v][assignment[v]] += p;
            }
            let mut k = 0;
            loop {
                if k == n {
                    return marginals;
                }
                assignment[k] += 1;
                if assignment[k] < self.cards[k] {
                    break;
                }
                assignment[k] = 0;
                k += 1;
            }
        }
    }
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{what}: {got:?} vs brute force {want:?}");
    }
}

#[test]
fn marginals_equal_brute_force() {
    let mut rng = Rng(0x5eed_2024);
    for case in 0..300 {
        let spec = Spec::random(&mut rng);
        let text = spec.bif(&mut rng);
        let network = bif::parse(&text).unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        let want = spec.brute_force(&spec.cpts);
        for (v, want) in want.iter().enumerate() {
            let id = network.node(&format!("v{v}")).unwrap();
            assert_close(&network.marginal(id), want, &format!("case {case}, v{v}\n{text}"));
        }

        // Replace a few tables (roots and non-roots) for one call only.
        let mut overrides = Overrides::new();
        let mut tables = spec.cpts.clone();
        for _ in 0..1 + rng.below(3) {
            let v = rng.below(spec.cards.len());
            let rows = tables[v].len() / spec.cards[v];
            tables[v] = (0..rows).flat_map(|_| rng.distribution(spec.cards[v])).collect();
            let id = network.node(&format!("v{v}")).unwrap();
            overrides.set(&network, id, tables[v].clone()).unwrap();
        }
        let want = spec.brute_force(&tables);
        for (v, want) in want.iter().enumerate() {
            let id = network.node(&format!("v{v}")).unwrap();
            assert_close(&network.marginal_with(&overrides, id).unwrap(), want, &format!("case {case}, v{v} overridden"));
        }
        // The shared network itself is unchanged.
        let id = network.node("v0").unwrap();
        assert_close(&network.marginal(id), &spec.brute_force(&spec.cpts)[0], &format!("case {case}, after"));
    }
}

#[test]
fn network_is_shareable_across_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Network>();
    let mut rng = Rng(7);
    let spec = Spec::random(&mut rng);
    let network = std::sync::Arc::new(bif::parse(&spec.bif(&mut rng)).unwrap());
    let want = spec.brute_force(&spec.cpts);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let network = network.clone();
            std::thread::spawn(move || network.node_ids().map(|id| network.marginal(id)).collect::<Vec<_>>())
        })
        .collect();
    for h in handles {
        for (got, want) in h.join().unwrap().iter().zip(&want) {
            assert_close(got, want, "thread");
        }
    }
}

//! Exact marginals by variable elimination, compiled once per query node.
//!
//! The elimination order and every index computation depend only on the network's structure,
//! so they are done once ([`Plan::compile`]) into flat index maps; answering a query is then a
//! few tight multiply-add loops over the current tables ([`Plan::run`]). That is what makes a
//! per-request overlay of replaced tables cheap.

use super::{Network, NodeId, Overrides};

/// A compiled elimination for one query node.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Nodes whose tables are read, i.e. the query node and its ancestors; descendants of the
    /// query sum to one without evidence and are dropped.
    tables: Vec<NodeId>,
    steps: Vec<Step>,
}

/// Multiply some factors and sum one variable out.
///
/// Product cells are laid out as `out_index * elim_card + elim_state`, so each output cell sums
/// a contiguous run of `elim_card` products.
#[derive(Debug)]
struct Step {
    /// Slots read: `< tables.len()` is a table of `Plan::tables`, otherwise the output of step
    /// `slot - tables.len()`.
    inputs: Vec<usize>,
    /// Per input, its cell index for each product cell.
    maps: Vec<Vec<u32>>,
    out_len: usize,
    elim_card: usize,
}

/// A factor's variables in its memory order (last fastest).
type Scope = Vec<usize>;

impl Plan {
    pub(crate) fn compile(network: &Network, target: NodeId) -> Plan {
        let n = network.len();
        let card = |v: usize| network.states(NodeId(v)).len();

        let mut relevant = vec![false; n];
        let mut stack = vec![target.0];
        while let Some(v) = stack.pop() {
            if !std::mem::replace(&mut relevant[v], true) {
                stack.extend(network.parents(NodeId(v)).iter().map(|p| p.0));
            }
        }
        let tables: Vec<NodeId> = (0..n).filter(|&v| relevant[v]).map(NodeId).collect();

        // (slot, scope) of every factor not yet consumed.
        let mut live: Vec<(usize, Scope)> = tables
            .iter()
            .enumerate()
            .map(|(slot, &id)| {
                let mut scope: Scope = network.parents(id).iter().map(|p| p.0).collect();
                scope.push(id.0);
                (slot, scope)
            })
            .collect();
        let mut to_eliminate: Vec<usize> = tables.iter().map(|id| id.0).filter(|&v| v != target.0).collect();
        let mut steps = Vec::new();

        while !to_eliminate.is_empty() {
            // Greedy min-weight: eliminate the variable whose product table is smallest.
            let (pick, _) = to_eliminate
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let mut vars: Vec<usize> = live.iter().filter(|(_, s)| s.contains(&v)).flat_map(|(_, s)| s.iter().copied()).collect();
                    vars.sort_unstable();
                    vars.dedup();
                    (i, vars.iter().map(|&u| card(u)).product::<usize>())
                })
                .min_by_key(|&(i, weight)| (weight, to_eliminate[i]))
                .expect("non-empty");
            let var = to_eliminate.swap_remove(pick);
            let (used, kept): (Vec<_>, Vec<_>) = live.into_iter().partition(|(_, s)| s.contains(&var));
            live = kept;
            let mut out_scope: Scope = used.iter().flat_map(|(_, s)| s.iter().copied()).filter(|&u| u != var).collect();
            out_scope.sort_unstable();
            out_scope.dedup();
            let slot = tables.len() + steps.len();
            steps.push(Step::new(&used, &out_scope, Some(var), &card));
            live.push((slot, out_scope));
        }
        // Whatever is left mentions only the target (or nothing, for constants).
        steps.push(Step::new(&live, &vec![target.0], None, &card));
        Plan { tables, steps }
    }

    pub(crate) fn run(&self, network: &Network, overrides: &Overrides) -> Vec<f64> {
        let tables: Vec<&[f64]> = self.tables.iter().map(|&id| overrides.get(id).unwrap_or_else(|| network.cpt(id))).collect();
        let mut outputs: Vec<Vec<f64>> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let inputs: Vec<&[f64]> =
                step.inputs.iter().map(|&s| if s < tables.len() { tables[s] } else { outputs[s - tables.len()].as_slice() }).collect();
            let mut out = vec![0.0; step.out_len];
            for (o, cell) in out.iter_mut().enumerate() {
                let base = o * step.elim_card;
                let mut acc = 0.0;
                for cell_index in base..base + step.elim_card {
                    let mut product = 1.0;
                    for (input, map) in inputs.iter().zip(&step.maps) {
                        product *= input[map[cell_index] as usize];
                    }
                    acc += product;
                }
                *cell = acc;
            }
            outputs.push(out);
        }
        outputs.pop().expect("a plan has a final step")
    }
}

impl Step {
    fn new(inputs: &[(usize, Scope)], out_scope: &Scope, elim: Option<usize>, card: &impl Fn(usize) -> usize) -> Step {
        let mut product_scope = out_scope.clone();
        product_scope.extend(elim);
        let product_cards: Vec<usize> = product_scope.iter().map(|&v| card(v)).collect();
        let product_len: usize = product_cards.iter().product();

        let maps = inputs
            .iter()
            .map(|(_, scope)| {
                // The input's stride for each product variable (0 where it does not depend on it).
                let mut strides = vec![0usize; product_scope.len()];
                let mut stride = 1;
                for &v in scope.iter().rev() {
                    let k = product_scope.iter().position(|&u| u == v).expect("input scope is within the product");
                    strides[k] = stride;
                    stride *= card(v);
                }
                let mut map = Vec::with_capacity(product_len);
                let mut digits = vec![0usize; product_scope.len()];
                let mut index = 0usize;
                for _ in 0..product_len {
                    map.push(u32::try_from(index).expect("factor too large"));
                    // Odometer increment, last variable fastest, keeping `index` in step.
                    for k in (0..digits.len()).rev() {
                        digits[k] += 1;
                        index += strides[k];
                        if digits[k] < product_cards[k] {
                            break;
                        }
                        index -= strides[k] * digits[k];
                        digits[k] = 0;
                    }
                }
                map
            })
            .collect();
        Step {
            inputs: inputs.iter().map(|(slot, _)| *slot).collect(),
            maps,
            out_len: out_scope.iter().map(|&v| card(v)).product(),
            elim_card: elim.map_or(1, card),
        }
    }
}

//! Grouping faces into people: which faces of a collection show one person, decided from
//! their templates, a neighbour graph and the constraints that photos and users impose.
//!
//! What it is: a pure function, [`group`], over values — templates, candidate pairs found by a
//! neighbour search (so it scales with the vector index), and [`Constraints`]. It merges groups
//! best first while the mean similarity of their pairs of faces (average linkage, computed
//! from the sums of their templates) reaches [`Rules::join`], never merging two groups that a
//! constraint keeps apart (two faces of one photo, a user's "not this person"). A merge needs
//! the two groups to be alike as wholes, not through one pair: no chain of look-alikes links
//! two people, as single-linkage rules (DBSCAN's) can. Measured and rejected: the cosine of the
//! groups' centroids, which averages out each photo's noise but also each group's spread, and
//! so merged the fixture sisters (Serena and Venus Williams: centroid cosine 0.36, mean pair
//! similarity 0.23, join 0.30).
//!
//! What it is not: a store (the caller persists groups, labels and corrections), a neighbour
//! search (the caller passes the pairs it found), or a policy (whether a collection may be
//! grouped at all is governance's decision).

use std::collections::{BinaryHeap, HashSet};

/// The faces to group: one template per unit (a face, or a video track's mean template).
#[derive(Debug, Clone, Copy)]
pub struct Faces<'a> {
    /// `units × dim` L2-normalised templates.
    pub templates: &'a [f32],
    /// Dimension.
    pub dim: usize,
    /// The photo of each unit, if known: units of one photo are never one person.
    pub photos: Option<&'a [u64]>,
}

/// A candidate pair from a neighbour search (only a pair to compare: the groups' linkage decides).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// A unit.
    pub a: u32,
    /// Another unit.
    pub b: u32,
}

/// When two groups merge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Least linkage between two groups for them to merge; for two single faces, their
    /// similarity. Set it from the pack's calibration: a pair of single faces above it should
    /// almost never be two people.
    pub join: f32,
}

/// What users and photos impose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Pairs of units known to be one person (a user's merge or move): joined first.
    pub together: Vec<(u32, u32)>,
    /// Pairs of units never in one group (a user's "not this person", a split, tracks seen at
    /// once in one video).
    pub apart: Vec<(u32, u32)>,
    /// Units each standing for a distinct person (one face of each group a user corrected or
    /// named): two groups holding such units never merge.
    pub distinct: Vec<u32>,
}

/// Why the faces could not be grouped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Templates, photos or the dimension disagree.
    #[error("the faces to group are inconsistent: {0}")]
    Shape(String),
    /// A pair names a unit that does not exist.
    #[error("unit {unit} named in {field} does not exist ({units} units)")]
    Unit {
        /// Which input named it.
        field: &'static str,
        /// The unit.
        unit: u32,
        /// How many units there are.
        units: usize,
    },
    /// The `together` pairs join two units that must stay apart.
    #[error("units {a} and {b} are kept apart, but other corrections make them one person")]
    Conflict {
        /// A unit.
        a: u32,
        /// The other.
        b: u32,
    },
}

/// Groups found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The group of each unit, numbered from 0 in the order of each group's first unit.
    pub group_of: Vec<u32>,
    /// How many groups (single faces included).
    pub groups: usize,
    /// Merges refused because a constraint kept the two groups apart.
    pub refused: usize,
}

/// Per group (at its root unit): the sum of its templates (empty while the group is its root
/// unit alone: its template is the sum, not copied), their count, photos, what it is kept
/// apart from and the units near it.
#[derive(Debug, Clone, Default)]
struct Group {
    sum: Vec<f32>,
    size: usize,
    version: u32,
    photos: HashSet<u64>,
    apart: Vec<u32>,
    near: Vec<u32>,
    distinct: bool,
}

/// A possible merge, best linkage first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    linkage: f32,
    a: u32,
    b: u32,
    version_a: u32,
    version_b: u32,
}

impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.linkage.total_cmp(&other.linkage).then((other.a, other.b).cmp(&(self.a, self.b)))
    }
}

struct State<'a> {
    faces: Faces<'a>,
    parent: Vec<u32>,
    groups: Vec<Group>,
}

impl State<'_> {
    fn root(&mut self, mut u: u32) -> u32 {
        while self.parent[u as usize] != u {
            let p = self.parent[u as usize];
            self.parent[u as usize] = self.parent[p as usize];
            u = p;
        }
        u
    }

    fn template(&self, u: u32) -> &[f32] {
        let d = self.faces.dim;
        &self.faces.templates[u as usize * d..(u as usize + 1) * d]
    }

    /// The sum of the templates of the group rooted at `r`.
    fn sum(&self, r: u32) -> &[f32] {
        let g = &self.groups[r as usize];
        if g.sum.is_empty() { self.template(r) } else { &g.sum }
    }

    /// The mean similarity of the pairs of faces of the groups rooted at `a` and `b`.
    fn linkage(&self, a: u32, b: u32) -> f32 {
        let (ga, gb) = (&self.groups[a as usize], &self.groups[b as usize]);
        // The mean of the pairs' similarities is the dot product of the sums over the number
        // of pairs (templates are unit vectors).
        let dot: f32 = self.sum(a).iter().zip(self.sum(b)).map(|(x, y)| x * y).sum();
        dot / (ga.size * gb.size) as f32
    }

    /// Whether a constraint keeps the groups rooted at `a` and `b` apart.
    fn kept_apart(&mut self, a: u32, b: u32) -> bool {
        if self.groups[a as usize].distinct && self.groups[b as usize].distinct {
            return true;
        }
        let (small, large) =
            if self.groups[a as usize].photos.len() <= self.groups[b as usize].photos.len() { (a, b) } else { (b, a) };
        if self.groups[small as usize].photos.iter().any(|p| self.groups[large as usize].photos.contains(p)) {
            return true;
        }
        for (x, y) in [(a, b), (b, a)] {
            let apart = std::mem::take(&mut self.groups[x as usize].apart);
            let hit = apart.iter().any(|&u| self.root(u) == y);
            self.groups[x as usize].apart = apart;
            if hit {
                return true;
            }
        }
        false
    }

    /// Merges the groups rooted at `a` and `b`; returns the new root.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        let (keep, gone) = if self.groups[a as usize].size >= self.groups[b as usize].size { (a, b) } else { (b, a) };
        let gone_sum = self.sum(gone).to_vec();
        if self.groups[keep as usize].sum.is_empty() {
            self.groups[keep as usize].sum = self.template(keep).to_vec();
        }
        let g = std::mem::take(&mut self.groups[gone as usize]);
        self.parent[gone as usize] = keep;
        let k = &mut self.groups[keep as usize];
        for (x, y) in k.sum.iter_mut().zip(&gone_sum) {
            *x += y;
        }
        k.size += g.size;
        k.version += 1;
        k.photos.extend(g.photos);
        k.apart.extend(g.apart);
        k.near.extend(g.near);
        k.distinct |= g.distinct;
        keep
    }

    /// The distinct other groups near the group rooted at `r` (its list compacted to one unit
    /// per group).
    fn neighbours(&mut self, r: u32) -> Vec<u32> {
        let near = std::mem::take(&mut self.groups[r as usize].near);
        let mut roots: Vec<u32> = near.into_iter().map(|u| self.root(u)).filter(|&x| x != r).collect();
        roots.sort_unstable();
        roots.dedup();
        self.groups[r as usize].near = roots.clone();
        roots
    }
}

/// Groups the units of `faces` (see the crate documentation).
///
/// # Errors
/// [`Error::Shape`] if the templates, dimension and photos disagree; [`Error::Unit`] if a pair
/// names a unit that does not exist; [`Error::Conflict`] if `together` joins units that a
/// photo or an `apart` pair keeps apart.
pub fn group(faces: Faces<'_>, edges: &[Edge], rules: Rules, constraints: &Constraints) -> Result<Grouping, Error> {
    let dim = faces.dim;
    if dim == 0 || !faces.templates.len().is_multiple_of(dim) {
        return Err(Error::Shape(format!(
            "{} values are not a whole number of {dim}-dimensional templates",
            faces.templates.len()
        )));
    }
    let n = faces.templates.len() / dim;
    if n > u32::MAX as usize {
        return Err(Error::Shape(format!("{n} units, at most {}", u32::MAX)));
    }
    if let Some(p) = faces.photos
        && p.len() != n
    {
        return Err(Error::Shape(format!("{} photos for {n} units", p.len())));
    }
    let check = |field: &'static str, u: u32| {
        if (u as usize) < n { Ok(()) } else { Err(Error::Unit { field, unit: u, units: n }) }
    };
    for e in edges {
        check("edges", e.a)?;
        check("edges", e.b)?;
    }
    for &(a, b) in constraints.together.iter().chain(&constraints.apart) {
        check("constraints", a)?;
        check("constraints", b)?;
    }
    for &u in &constraints.distinct {
        check("constraints", u)?;
    }
    let mut state = State {
        faces,
        parent: (0..n as u32).collect(),
        groups: (0..n as u32)
            .map(|u| Group {
                sum: Vec::new(),
                size: 1,
                version: 0,
                photos: faces.photos.map(|p| HashSet::from([p[u as usize]])).unwrap_or_default(),
                apart: Vec::new(),
                near: Vec::new(),
                distinct: false,
            })
            .collect(),
    };
    for &u in &constraints.distinct {
        state.groups[u as usize].distinct = true;
    }
    for &(a, b) in &constraints.apart {
        state.groups[a as usize].apart.push(b);
        state.groups[b as usize].apart.push(a);
    }
    for e in edges {
        if e.a != e.b {
            state.groups[e.a as usize].near.push(e.b);
            state.groups[e.b as usize].near.push(e.a);
        }
    }
    for &(a, b) in &constraints.together {
        let (ra, rb) = (state.root(a), state.root(b));
        if ra == rb {
            continue;
        }
        if state.kept_apart(ra, rb) {
            return Err(Error::Conflict { a, b });
        }
        state.merge(ra, rb);
    }
    let mut heap = BinaryHeap::new();
    let roots: Vec<u32> = (0..n as u32).filter(|&u| state.parent[u as usize] == u).collect();
    for r in roots {
        push_neighbours(&mut state, &mut heap, r, rules.join);
    }
    let mut refused = 0;
    while let Some(c) = heap.pop() {
        let (ra, rb) = (state.root(c.a), state.root(c.b));
        if ra == rb {
            continue;
        }
        let fresh = ra == c.a
            && rb == c.b
            && state.groups[ra as usize].version == c.version_a
            && state.groups[rb as usize].version == c.version_b;
        if !fresh {
            // One of the two grew since this was computed: the newer candidates of the merged
            // group were pushed at its merge.
            continue;
        }
        if state.kept_apart(ra, rb) {
            refused += 1;
            continue;
        }
        let r = state.merge(ra, rb);
        push_neighbours(&mut state, &mut heap, r, rules.join);
    }
    let mut number = vec![u32::MAX; n];
    let mut group_of = Vec::with_capacity(n);
    let mut groups = 0u32;
    for u in 0..n as u32 {
        let r = state.root(u) as usize;
        if number[r] == u32::MAX {
            number[r] = groups;
            groups += 1;
        }
        group_of.push(number[r]);
    }
    Ok(Grouping { group_of, groups: groups as usize, refused })
}

fn push_neighbours(state: &mut State<'_>, heap: &mut BinaryHeap<Candidate>, r: u32, join: f32) {
    for other in state.neighbours(r) {
        let linkage = state.linkage(r, other);
        if linkage >= join {
            let (a, b) = (r.min(other), r.max(other));
            heap.push(Candidate {
                linkage,
                a,
                b,
                version_a: state.groups[a as usize].version,
                version_b: state.groups[b as usize].version,
            });
        }
    }
}

#[cfg(test)]
mod tests;

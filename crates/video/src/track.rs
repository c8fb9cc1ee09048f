//! Face tracks: faces of consecutive sampled frames linked into one appearance of a person,
//! by box overlap and template similarity. Pure: values in, tracks out.
//!
//! Each sampled frame's faces are matched to the open tracks greedily, best pair first. A
//! pair may link when the templates are clearly the same person (`min_similarity`) and both
//! faces are reliable (large and sharp enough for their templates to be trusted: two tiny
//! background faces can look alike), or when the boxes overlap well (`min_iou`) and the
//! templates do not contradict it (`overlap_similarity`, for blurred, turned or tiny faces). A track not extended for `max_gap_s`
//! closes. A track keeps its `keep` best faces by quality; those become its templates.

use gabarit_types::BBox;

/// Linking rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerOptions {
    /// Similarity at or above which a face continues a track wherever it is in the frame.
    pub min_similarity: f32,
    /// Box overlap (IoU) at or above which a face continues a track…
    pub min_iou: f32,
    /// …if its similarity to the track is at least this.
    pub overlap_similarity: f32,
    /// A track closes when not extended for this long (seconds).
    pub max_gap_s: f64,
    /// Best faces kept per track.
    pub keep: usize,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions { min_similarity: 0.45, min_iou: 0.2, overlap_similarity: 0.15, max_gap_s: 1.25, keep: 3 }
    }
}

/// A face seen in one sampled frame.
#[derive(Debug, Clone)]
pub struct Sighting<T> {
    /// Frame time, seconds.
    pub time_s: f64,
    /// Box in the frame.
    pub bbox: BBox,
    /// L2-normalised template.
    pub template: Vec<f32>,
    /// Higher is better: decides which faces a track keeps.
    pub quality: f32,
    /// Whether the template is good enough to link this face by similarity alone.
    pub reliable: bool,
    /// What the caller attaches (the face itself).
    pub payload: T,
}

/// A finished track.
#[derive(Debug, Clone)]
pub struct Track<T> {
    /// Number in order of appearance, from 0.
    pub id: u32,
    /// First sighting, seconds.
    pub start_s: f64,
    /// Last sighting, seconds.
    pub end_s: f64,
    /// Sightings linked into it.
    pub sightings: usize,
    /// The kept sightings, best quality first.
    pub kept: Vec<Sighting<T>>,
}

struct Open<T> {
    track: Track<T>,
    last_box: BBox,
    last_template: Vec<f32>,
    last_reliable: bool,
}

/// Links sightings into tracks, one sampled frame at a time.
pub struct Tracker<T> {
    options: TrackerOptions,
    open: Vec<Open<T>>,
    closed: Vec<Track<T>>,
    next_id: u32,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn iou(a: &BBox, b: &BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = w * h;
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

impl<T> Tracker<T> {
    /// A tracker with these rules.
    pub fn new(options: TrackerOptions) -> Self {
        Tracker { options, open: Vec::new(), closed: Vec::new(), next_id: 0 }
    }

    fn close_stale(&mut self, now: f64) {
        let gap = self.options.max_gap_s;
        let (stale, open): (Vec<_>, Vec<_>) = self.open.drain(..).partition(|o| now - o.track.end_s > gap + 1e-9);
        self.open = open;
        self.closed.extend(stale.into_iter().map(|o| o.track));
    }

    /// Adds the faces of one sampled frame (frames in time order).
    pub fn push(&mut self, time_s: f64, sightings: Vec<Sighting<T>>) {
        self.close_stale(time_s);
        let o = self.options;
        let mut pairs = Vec::new();
        for (ti, open) in self.open.iter().enumerate() {
            for (si, s) in sightings.iter().enumerate() {
                let sim = dot(&open.last_template, &s.template);
                let overlap = iou(&open.last_box, &s.bbox);
                let by_similarity = sim >= o.min_similarity && open.last_reliable && s.reliable;
                if by_similarity || (overlap >= o.min_iou && sim >= o.overlap_similarity) {
                    pairs.push((sim + overlap, ti, si));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_taken = vec![false; self.open.len()];
        let mut assigned: Vec<Option<usize>> = vec![None; sightings.len()];
        for (_, ti, si) in pairs {
            if !track_taken[ti] && assigned[si].is_none() {
                track_taken[ti] = true;
                assigned[si] = Some(ti);
            }
        }
        for (s, target) in sightings.into_iter().zip(assigned) {
            match target {
                Some(ti) => {
                    let open = &mut self.open[ti];
                    open.last_box = s.bbox;
                    open.last_template.clone_from(&s.template);
                    open.last_reliable = s.reliable;
                    open.track.end_s = s.time_s.max(open.track.end_s);
                    open.track.sightings += 1;
                    keep_best(&mut open.track.kept, s, o.keep);
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.open.push(Open {
                        last_box: s.bbox,
                        last_template: s.template.clone(),
                        last_reliable: s.reliable,
                        track: Track { id, start_s: s.time_s, end_s: s.time_s, sightings: 1, kept: vec![s] },
                    });
                }
            }
        }
    }

    /// Closes every track; tracks in order of appearance.
    pub fn finish(mut self) -> Vec<Track<T>> {
        self.closed.extend(self.open.drain(..).map(|o| o.track));
        self.closed.sort_by_key(|t| t.id);
        self.closed
    }
}

fn keep_best<T>(kept: &mut Vec<Sighting<T>>, s: Sighting<T>, keep: usize) {
    kept.push(s);
    kept.sort_by(|a, b| b.quality.total_cmp(&a.quality).then(a.time_s.total_cmp(&b.time_s)));
    kept.truncate(keep.max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: usize) -> Vec<f32> {
        // Orthogonal-ish directions per person: one-hot plus a small shared part.
        let mut v = [0.05f32; 16];
        v[seed % 16] = 1.0;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn sighting(t: f64, x: f32, person: usize, quality: f32) -> Sighting<(usize, f64)> {
        Sighting {
            time_s: t,
            bbox: BBox { x1: x, y1: 10.0, x2: x + 50.0, y2: 70.0 },
            template: unit(person),
            quality,
            reliable: true,
            payload: (person, t),
        }
    }

    #[test]
    fn two_people_moving_make_two_tracks_with_their_best_faces() {
        let mut tr = Tracker::new(TrackerOptions::default());
        for i in 0..6 {
            let t = i as f64 * 0.5;
            let q = [0.1, 0.9, 0.3, 0.8, 0.2, 0.7][i];
            tr.push(t, vec![sighting(t, 10.0 + 4.0 * i as f32, 0, q), sighting(t, 300.0 - 4.0 * i as f32, 1, 0.5)]);
        }
        let tracks = tr.finish();
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[0].start_s, tracks[0].end_s, tracks[0].sightings), (0.0, 2.5, 6));
        let kept: Vec<f64> = tracks[0].kept.iter().map(|s| s.payload.1).collect();
        assert_eq!(kept, vec![0.5, 1.5, 2.5], "the three best faces by quality");
        assert!(tracks.iter().all(|t| t.kept.iter().all(|s| s.payload.0 == t.kept[0].payload.0)));
    }

    #[test]
    fn a_gap_longer_than_allowed_starts_a_new_track() {
        let mut tr = Tracker::new(TrackerOptions::default());
        tr.push(0.0, vec![sighting(0.0, 10.0, 0, 0.5)]);
        tr.push(0.5, vec![sighting(0.5, 10.0, 0, 0.5)]);
        tr.push(1.5, vec![sighting(1.5, 10.0, 0, 0.5)]); // one sample missed: still the same track
        tr.push(5.0, vec![sighting(5.0, 10.0, 0, 0.5)]); // 3.5 s later: a new appearance
        let tracks = tr.finish();
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[0].start_s, tracks[0].end_s), (0.0, 1.5));
        assert_eq!((tracks[1].start_s, tracks[1].end_s), (5.0, 5.0));
    }

    #[test]
    fn a_different_person_in_the_same_place_is_not_linked() {
        let mut tr = Tracker::new(TrackerOptions::default());
        tr.push(0.0, vec![sighting(0.0, 10.0, 0, 0.5)]);
        tr.push(0.5, vec![sighting(0.5, 10.0, 1, 0.5)]);
        assert_eq!(tr.finish().len(), 2);
    }

    #[test]
    fn overlap_links_a_face_whose_template_wavers() {
        let mut tr = Tracker::new(TrackerOptions::default());
        tr.push(0.0, vec![sighting(0.0, 10.0, 0, 0.5)]);
        let mut blurred = sighting(0.5, 12.0, 0, 0.1);
        // Similarity 0.3 to the track: below min_similarity, above overlap_similarity.
        let other = unit(1);
        let mixed: Vec<f32> = blurred.template.iter().zip(&other).map(|(a, b)| 0.32 * a + 0.95 * b).collect();
        let n = mixed.iter().map(|x| x * x).sum::<f32>().sqrt();
        blurred.template = mixed.iter().map(|x| x / n).collect();
        let sim = dot(&blurred.template, &unit(0));
        assert!(sim > 0.2 && sim < 0.45, "{sim}");
        tr.push(0.5, vec![blurred]);
        assert_eq!(tr.finish().len(), 1);
    }

    #[test]
    fn unreliable_faces_far_apart_are_not_linked_by_similarity() {
        let mut tr = Tracker::new(TrackerOptions::default());
        let mut a = sighting(0.0, 10.0, 0, 0.5);
        a.reliable = false;
        tr.push(0.0, vec![a]);
        tr.push(0.5, vec![sighting(0.5, 600.0, 0, 0.5)]);
        assert_eq!(tr.finish().len(), 2, "a tiny face's template does not carry a track across the frame");
        let mut tr = Tracker::new(TrackerOptions::default());
        let mut a = sighting(0.0, 10.0, 0, 0.5);
        a.reliable = false;
        tr.push(0.0, vec![a]);
        tr.push(0.5, vec![sighting(0.5, 14.0, 0, 0.5)]);
        assert_eq!(tr.finish().len(), 1, "but its box does, nearby");
    }

    #[test]
    fn the_same_person_after_a_jump_is_linked_by_similarity() {
        let mut tr = Tracker::new(TrackerOptions::default());
        tr.push(0.0, vec![sighting(0.0, 10.0, 0, 0.5)]);
        tr.push(0.5, vec![sighting(0.5, 600.0, 0, 0.5)]);
        let tracks = tr.finish();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].sightings, 2);
    }
}

//! The table of path routes: which function serves which path prefix.

use std::sync::RwLock;

use flint_vmm::sync::{read, write};

/// Path prefix → function, longest prefix first.
#[derive(Debug, Default)]
pub struct RouteTable {
    entries: RwLock<Vec<(String, String)>>,
}

fn normalise(prefix: &str) -> String {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        "/".to_string()
    } else {
        p.to_string()
    }
}

fn matches(prefix: &str, path: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl RouteTable {
    /// Replaces every route with `routes` (`(prefix, function)` pairs).
    pub fn replace(&self, routes: Vec<(String, String)>) {
        let mut entries: Vec<(String, String)> = routes
            .into_iter()
            .map(|(p, f)| (normalise(&p), f))
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        *write(&self.entries) = entries;
    }

    /// The function and prefix serving `path`.
    pub fn lookup(&self, path: &str) -> Option<(String, String)> {
        let entries = read(&self.entries);
        entries
            .iter()
            .find(|(prefix, _)| matches(prefix, path))
            .map(|(p, f)| (f.clone(), p.clone()))
    }

    /// A route in `routes` already served by a function other than `name`.
    pub fn conflict(&self, name: &str, routes: &[String]) -> Option<(String, String)> {
        let entries = read(&self.entries);
        routes.iter().find_map(|r| {
            let r = normalise(r);
            entries
                .iter()
                .find(|(p, f)| *p == r && f != name)
                .map(|(p, f)| (p.clone(), f.clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let t = RouteTable::default();
        t.replace(vec![
            ("/api2".into(), "b".into()),
            ("/app/".into(), "a".into()),
            ("/app/admin".into(), "c".into()),
        ]);
        assert_eq!(t.lookup("/app").unwrap().0, "a");
        assert_eq!(t.lookup("/app/x/y").unwrap(), ("a".into(), "/app".into()));
        assert_eq!(t.lookup("/app/admin/z").unwrap().0, "c");
        assert!(t.lookup("/apple").is_none());
        assert!(t.lookup("/api").is_none());
        assert_eq!(
            t.conflict("z", &["/app".into()]),
            Some(("/app".into(), "a".into()))
        );
        assert_eq!(t.conflict("a", &["/app".into()]), None);
    }
}

//! Where a server or a client finds the view leader: the list of its replicas (one address
//! for a lone view leader) and the one believed to lead. A replica that does not lead answers
//! with the leader it knows of, if any; silence moves on to the next address.

use alloc::vec::Vec;

use crate::id::Addr;

/// The view leader's replicas and the one to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaders {
    list: Vec<Addr>,
    current: usize,
}

impl Leaders {
    /// The replicas at `list` (at least one), starting with the first.
    pub fn new(list: Vec<Addr>) -> Self {
        assert!(!list.is_empty(), "a view leader needs an address");
        Leaders { list, current: 0 }
    }

    /// The replica believed to lead.
    pub fn current(&self) -> &Addr {
        &self.list[self.current]
    }

    /// Every replica's address.
    pub fn list(&self) -> &[Addr] {
        &self.list
    }

    /// Whether `addr` is one of the replicas.
    pub fn contains(&self, addr: &Addr) -> bool {
        self.list.contains(addr)
    }

    /// Whether there is more than one replica to try.
    pub fn replicated(&self) -> bool {
        self.list.len() > 1
    }

    /// A replica said who leads (`Some`, if that is one of the list) or that it does not know
    /// (`None`: the next replica is tried). Returns whether the one to talk to changed.
    pub fn follow(&mut self, hint: Option<&Addr>) -> bool {
        let before = self.current;
        match hint.and_then(|h| self.list.iter().position(|a| a == h)) {
            Some(place) => self.current = place,
            None => self.next(),
        }
        self.current != before
    }

    /// No answer: try the next replica.
    pub fn next(&mut self) {
        self.current = (self.current + 1) % self.list.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_in_the_list_is_followed_and_anything_else_moves_on() {
        let mut leaders = Leaders::new(alloc::vec![Addr::from("a"), Addr::from("b"), Addr::from("c")]);
        assert_eq!(leaders.current(), &Addr::from("a"));
        assert!(leaders.follow(Some(&Addr::from("c"))));
        assert_eq!(leaders.current(), &Addr::from("c"));
        assert!(!leaders.follow(Some(&Addr::from("c"))));
        leaders.follow(Some(&Addr::from("elsewhere")));
        assert_eq!(leaders.current(), &Addr::from("a"));
        leaders.follow(None);
        assert_eq!(leaders.current(), &Addr::from("b"));
    }
}

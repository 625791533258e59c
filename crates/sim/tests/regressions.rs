//! Seeds the sweep once failed on, kept so the bugs they found stay fixed. Each comment names
//! what the seed exposed.

use ringside_sim::sweep;

fn assert_clean(seed: u64) {
    let (outcome, _) = sweep::run_seed(seed, false);
    if let Some(v) = outcome.violation {
        panic!("regression seed {seed}: {v}");
    }
}

/// A server declared failed while partitioned kept voting in its old epoch: writes committed
/// on a zombie were lost (fixed by the server lease).
#[test]
fn zombie_server_stops_serving() {
    for seed in [129, 190, 99, 176, 193, 315, 328] {
        assert_clean(seed);
    }
}

/// Copies sent for an epoch the receiver had not learned yet were dropped as strays.
#[test]
fn copies_for_a_newer_epoch_survive() {
    for seed in [934, 204, 1633] {
        assert_clean(seed);
    }
}

/// A server restarted at a participant's address ruled out a transaction the old process
/// had committed (decision requests now name the participant).
#[test]
fn termination_asks_the_right_process() {
    assert_clean(4076);
}

/// The at-rest check ran before late joins settled, and late or repeated copies stayed as
/// strays once a view was stable.
#[test]
fn late_joins_and_late_copies_settle() {
    for seed in [197, 285, 294, 363, 38, 1793] {
        assert_clean(seed);
    }
}

/// Keys whose every copy was lost (all replicas crashed or failed, or the only prepared
/// participant died) are exempt from durability and linearizability, and no others.
#[test]
fn total_loss_is_told_apart_from_bugs() {
    for seed in [1723, 2143, 2434, 119, 142, 336, 393, 419] {
        assert_clean(seed);
    }
}

/// Under Paxos Commit, the `decision_reply` of a chosen commit was lost to one participant and
/// the other, which had accepted it too, restarted without its disk: the takeover could never
/// gather a majority, rebalancing copied the old value, and a write returned as committed was
/// lost (the takeover now asks the coordinator as well).
#[test]
fn a_chosen_commit_is_learnt_from_its_coordinator() {
    let variant = sweep::Variant { view_leaders: 3, ..sweep::Variant::default() };
    let (outcome, _) = sweep::run_variant(2558, false, variant);
    if let Some(v) = outcome.violation {
        panic!("regression seed 2558 (3 view leaders): {v}");
    }
}

fn assert_clean_in(seed: u64, variant: sweep::Variant) {
    let (outcome, _) = sweep::run_variant(seed, false, variant);
    if let Some(v) = outcome.violation {
        panic!("regression seed {seed} ({variant:?}): {v}");
    }
}

/// With churn, a sender held a key only as a prepared write (committed elsewhere by a
/// majority) and sent nothing for it: the key's copy never reached its new replicas (the copy
/// now waits until the write is decided).
#[test]
fn a_copy_of_an_undecided_write_is_deferred_not_lost() {
    assert_clean_in(1754, sweep::Variant { churn: true, ..sweep::Variant::default() });
}

/// With churn, a key's three replicas in the stable view all crashed within 300 ms while a
/// stray still held its copy; the stray then dropped it, as the fully rebalanced view allowed.
/// The checker counted the stray as a survivor and took the allowed loss for a bug (a stray
/// of the stable view is no survivor now).
#[test]
fn a_stray_of_the_stable_view_is_no_survivor() {
    assert_clean_in(1765, sweep::Variant { churn: true, ..sweep::Variant::default() });
}

/// A late duplicate `lock_release` freed a lock its client had acquired again, and two
/// clients held it at once (a release now carries its session and request, and a stale one is
/// ignored).
#[test]
fn a_stale_release_frees_no_lock() {
    let classic = sweep::Variant { commit: ringside_core::CommitProtocol::Classic, ..sweep::Variant::default() };
    assert_clean_in(971, classic);
    assert_clean_in(1690, sweep::Variant { view_leaders: 3, ..sweep::Variant::default() });
}

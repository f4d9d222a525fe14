// The expert cache (offload/expert_cache.h): its invariants (slots, pins, the per-layer upload
// cap) under random use, and each eviction policy's behaviour on working sets and scans.
#include "tests/offload_test_helpers.h"

namespace petrel {
namespace {

using namespace offload;
using namespace offload_test;
using test::Rng;

// ---- expert cache --------------------------------------------------------------------------------

// Replays one expert per step on a one-layer cache: hit if resident, then record and admit.
// Returns the hits from step `count_from` on.
int64_t replay_single(ExpertCache* c, const std::vector<int32_t>& uses, size_t count_from) {
  int64_t hits = 0;
  std::vector<Admission> out;
  for (size_t s = 0; s < uses.size(); ++s) {
    c->begin_step();
    const int32_t e = uses[s];
    const bool hit = c->slot_of(0, e) >= 0;
    if (hit && s >= count_from) ++hits;
    c->record_use(0, &e, 1);
    if (!hit) c->admit(0, &e, 1, false, &out);
  }
  return hits;
}


// Random use, prefetch and admission under every policy: never more resident than slots, slots
// and keys agree, no pinned entry evicted, and no layer over its upload cap in a step.
PETREL_TEST(offload_cache_invariants) {
  const int32_t n_layers = 4, n_expert = 16;
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    for (int64_t n_slots : {int64_t{0}, int64_t{1}, int64_t{10}, int64_t{40}, int64_t{100}}) {
      const int32_t cap = 2;
      ExpertCache c(n_layers, n_expert, n_slots, policy_of(ev, 0.7, cap));
      PETREL_CHECK_EQ(c.n_slots(), std::min<int64_t>(n_slots, n_layers * n_expert));
      Rng rng(static_cast<uint64_t>(n_slots) * 3 + static_cast<uint64_t>(ev));
      std::vector<Admission> out;
      bool ok = true;
      for (int step = 0; step < 600 && ok; ++step) {
        c.begin_step();
        std::set<int64_t> pinned;  // used while resident, or uploaded, in this step
        std::vector<int32_t> uploads(static_cast<size_t>(n_layers), 0);
        const auto check_admissions = [&](size_t from) {
          for (size_t i = from; i < out.size(); ++i) {
            const Admission& a = out[i];
            if (a.evicted_layer >= 0 && pinned.count(int64_t{a.evicted_layer} * n_expert + a.evicted_expert)) ok = false;
            if (a.evicted_layer >= 0 && c.slot_of(a.evicted_layer, a.evicted_expert) >= 0) ok = false;
            if (c.slot_of(a.layer, a.expert) != a.slot) ok = false;
            pinned.insert(int64_t{a.layer} * n_expert + a.expert);
            if (++uploads[static_cast<size_t>(a.layer)] > cap) ok = false;
          }
        };
        for (int32_t l = 0; l < n_layers; ++l) {
          std::vector<int32_t> used;
          while (used.size() < 3) {
            const auto e = static_cast<int32_t>(rng.u32() % (rng.u32() % 2 ? 5 : n_expert));
            if (std::find(used.begin(), used.end(), e) == used.end()) used.push_back(e);
          }
          std::sort(used.begin(), used.end());
          std::vector<int32_t> missed;
          for (int32_t e : used) {
            if (c.slot_of(l, e) >= 0) {
              pinned.insert(int64_t{l} * n_expert + e);
            } else {
              missed.push_back(e);
            }
          }
          c.record_use(l, used.data(), static_cast<int32_t>(used.size()));
          if (l + 1 < n_layers) {
            std::vector<int32_t> predicted;
            for (int i = 0; i < 3; ++i) predicted.push_back(static_cast<int32_t>(rng.u32() % n_expert));
            const size_t from = out.size();
            c.admit(l + 1, predicted.data(), 3, true, &out);
            check_admissions(from);
          }
          const size_t from = out.size();
          c.admit(l, missed.data(), static_cast<int32_t>(missed.size()), false, &out);
          check_admissions(from);
          if (c.uploads_left(l) != cap - uploads[static_cast<size_t>(l)]) ok = false;
        }
        // Slots and keys agree one to one.
        std::set<int64_t> slots;
        int64_t resident = 0;
        for (int32_t l = 0; l < n_layers; ++l) {
          for (int32_t e = 0; e < n_expert; ++e) {
            const int64_t s = c.slot_of(l, e);
            if (s < 0) continue;
            ++resident;
            if (s >= c.n_slots() || !slots.insert(s).second) ok = false;
          }
        }
        if (resident != c.n_resident() || c.n_resident() > c.n_slots()) ok = false;
        out.clear();
      }
      if (!ok) test::fail(__FILE__, __LINE__, std::string(eviction_name(ev)) + " with " + std::to_string(n_slots) + " slots");
    }
  }
}

// LRU on a cyclic working set: smaller than the cache, every access hits after the first round;
// one larger than the cache, LRU evicts exactly the expert that comes next and never hits.
PETREL_TEST(offload_cache_lru_cyclic) {
  std::vector<int32_t> small, large;
  for (int i = 0; i < 400; ++i) {
    small.push_back(i % 12);
    large.push_back(i % 20);
  }
  ExpertCache a(1, 64, 16, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&a, small, 12), 400 - 12);
  ExpertCache b(1, 64, 16, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&b, large, 20), 0);
}

// A hot set used often, then a scan of experts used once each, then the hot set again: LFU keeps
// it through the scan; LRU loses all of it.
PETREL_TEST(offload_cache_lfu_keeps_hot_set_under_scan) {
  std::vector<int32_t> uses;
  for (int round = 0; round < 10; ++round) {
    for (int32_t e = 0; e < 6; ++e) uses.push_back(e);
  }
  for (int32_t e = 10; e < 50; ++e) uses.push_back(e);
  const size_t hot_again = uses.size();
  for (int32_t e = 0; e < 6; ++e) uses.push_back(e);
  ExpertCache lfu(1, 64, 8, policy_of(Eviction::lfu));
  PETREL_CHECK_EQ(replay_single(&lfu, uses, hot_again), 6);
  ExpertCache lru(1, 64, 8, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&lru, uses, hot_again), 0);
}

// lrfu: a frequent-but-old expert (0) and a less frequent, more recent one (1) hold the two
// slots when a third (2) is used once. A small decay has forgotten 0's uses: 2 outscores it and
// takes its slot. A decay near 1 remembers them: 2 scores below both and is not admitted.
// decay -> 0 decides exactly like LRU.
PETREL_TEST(offload_cache_lrfu_decay) {
  std::vector<int32_t> uses;
  for (int i = 0; i < 10; ++i) uses.push_back(0);  // expert 0: 10 uses
  for (int i = 0; i < 5; ++i) uses.push_back(1);   // expert 1: 5 uses, more recent
  uses.push_back(2);                               // expert 2 needs one of the two slots
  for (double decay : {0.5, 0.99}) {
    ExpertCache c(1, 8, 2, policy_of(Eviction::lrfu, decay));
    replay_single(&c, uses, 0);
    const bool long_memory = decay > 0.9;
    PETREL_CHECK((c.slot_of(0, 0) >= 0) == long_memory);
    PETREL_CHECK((c.slot_of(0, 2) >= 0) == !long_memory);
    PETREL_CHECK(c.slot_of(0, 1) >= 0);
  }
  // The same random stream with LRU and lrfu at the smallest decay: the same hits.
  Rng rng(5);
  std::vector<int32_t> stream;
  for (int i = 0; i < 3000; ++i) stream.push_back(static_cast<int32_t>(rng.u32() % (rng.u32() % 3 ? 12 : 40)));
  ExpertCache lru(1, 40, 10, policy_of(Eviction::lru));
  ExpertCache lrfu(1, 40, 10, policy_of(Eviction::lrfu, 1e-9));
  PETREL_CHECK_EQ(replay_single(&lru, stream, 0), replay_single(&lrfu, stream, 0));
}

// A static cache (no upload budget) never admits; place() fills it once, without a budget.
PETREL_TEST(offload_cache_static_never_uploads) {
  ExpertCache c(2, 8, 5, policy_of(Eviction::lrfu, 0.8, 0));
  std::vector<Admission> out;
  const int32_t first[] = {0, 1, 2, 3};
  PETREL_CHECK_EQ(c.place(0, first, 4, &out), 4);
  PETREL_CHECK_EQ(c.place(1, first, 4, &out), 1);  // the slots are full
  PETREL_CHECK_EQ(c.n_resident(), 5);
  out.clear();
  Rng rng(9);
  for (int s = 0; s < 200; ++s) {
    c.begin_step();
    for (int32_t l = 0; l < 2; ++l) {
      const int32_t e = static_cast<int32_t>(rng.u32() % 8);
      c.record_use(l, &e, 1);
      PETREL_CHECK_EQ(c.admit(l, &e, 1, false, &out), 0);
      PETREL_CHECK_EQ(c.admit(l, &e, 1, true, &out), 0);
    }
  }
  PETREL_CHECK(out.empty());
  for (int32_t e : first) PETREL_CHECK(c.slot_of(0, e) >= 0);
}

// A prefetch of [x, y] where y is resident and the lowest-scored entry: admitting x must not
// evict y, which the same prediction says the layer is about to use.
PETREL_TEST(offload_cache_prefetch_keeps_predicted_resident) {
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    ExpertCache c(1, 8, 2, policy_of(ev, 0.8, 4, true));
    std::vector<Admission> out;
    replay_single(&c, {0, 1, 1}, 0);  // 0 is the lowest-scored of the two residents
    c.begin_step();
    const int32_t predicted[] = {5, 0};
    PETREL_CHECK_EQ(c.admit(0, predicted, 2, true, &out), 1);
    PETREL_CHECK(c.slot_of(0, 0) >= 0 && c.slot_of(0, 5) >= 0 && c.slot_of(0, 1) < 0);
  }
}

}  // namespace
}  // namespace petrel

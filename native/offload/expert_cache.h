// The bookkeeping of the device's expert cache (MoE expert offload): which routed experts hold
// one of the device's expert slots, which entry to evict, and how many uploads each layer may
// start per step. It owns no expert bytes: a device (offload/expert_device.h) owns the slots and
// copies experts into them; this class only decides. The same object drives the engine and the
// trace simulator (offload/simulate.h), so what the simulator measures is the engine's policy.
//
// Experts are named by (layer, expert), where layer counts MoE layers only (0..n_layers-1).
// A step is one forward call (one decode token, or one prefill micro-batch).
//
// Eviction: the entry with the lowest score goes, never one pinned in the current step (used or
// uploaded in it: the device may still be computing with it or copying into it).
//   lru   score = the step of the last use
//   lfu   score = the number of uses (ties: the older last use goes)
//   lrfu  score = decayed frequency: each use adds 1 after the score has decayed by `decay` per
//         step since the previous use, so recent and frequent experts both stay. decay -> 0 is
//         LRU, decay = 1 is LFU. The ordering is kept as ln(F) - last·ln(decay), which does not
//         change with time, so the entries sit in one ordered set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

namespace petrel::offload {

enum class Eviction { lru, lfu, lrfu };

struct CachePolicy {
  Eviction eviction = Eviction::lrfu;
  double decay = 0.8;                 // lrfu only, in (0, 1]
  int32_t max_uploads_per_layer = 2;  // uploads one layer may start per step; 0: a static cache
  bool prefetch = true;               // upload the next layer's predicted experts (the caller acts on it)
};

const char* eviction_name(Eviction e);

// One upload the caller must carry out: copy `expert` of MoE layer `layer` into `slot`. When
// evicted_layer >= 0, that expert held the slot before and is gone from the cache.
struct Admission {
  int32_t layer = 0;
  int32_t expert = 0;
  int64_t slot = 0;
  int32_t evicted_layer = -1;
  int32_t evicted_expert = -1;
};

class ExpertCache {
 public:
  // n_slots may exceed n_layers·n_expert (then every expert fits and nothing is evicted).
  ExpertCache(int32_t n_layers, int32_t n_expert, int64_t n_slots, const CachePolicy& policy);

  int32_t n_layers() const { return n_layers_; }
  int32_t n_expert() const { return n_expert_; }
  int64_t n_slots() const { return n_slots_; }
  int64_t n_resident() const { return static_cast<int64_t>(resident_.size()); }
  const CachePolicy& policy() const { return policy_; }

  // Starts the next step: every layer's upload budget is full again, last step's pins are gone.
  void begin_step();
  int64_t step() const { return now_; }

  // The slot holding the expert, or -1.
  int64_t slot_of(int32_t layer, int32_t expert) const { return slot_of_[key(layer, expert)]; }

  // The router of `layer` selected these experts in this step: their scores rise and the resident
  // ones are pinned until the step ends.
  void record_use(int32_t layer, const int32_t* experts, int32_t n);

  // Brings the experts in `wanted` (most wanted first; resident ones are skipped) into slots,
  // within what is left of `layer`'s upload budget in this step, and appends what the caller must
  // copy to *out. A used expert (missed this step) replaces the lowest-scored unpinned entry only
  // when it scores higher; a prefetched one (predicted, not yet used) always may, and is pinned.
  // Returns the number admitted.
  int32_t admit(int32_t layer, const int32_t* wanted, int32_t n, bool prefetch, std::vector<Admission>* out);

  // Fills free slots without any budget, e.g. at load: the experts of `layer` in the given order.
  // Returns the number placed (stops when the slots are full).
  int32_t place(int32_t layer, const int32_t* experts, int32_t n, std::vector<Admission>* out);

  int32_t uploads_left(int32_t layer) const { return budget_[static_cast<size_t>(layer)]; }

 private:
  int64_t key(int32_t layer, int32_t expert) const {
    return static_cast<int64_t>(layer) * n_expert_ + expert;
  }
  double order_of(int64_t k) const;
  void touch(int64_t k, double add);
  // Frees the lowest-ordered unpinned slot whose order is below `than` (or any, when `force`).
  // Returns the slot, or -1 when none qualifies.
  int64_t evict(double than, bool force, Admission* a);
  void insert(int64_t k, int64_t slot);

  int32_t n_layers_;
  int32_t n_expert_;
  int64_t n_slots_;
  CachePolicy policy_;
  double log_decay_ = 0.0;  // ln(decay), <= 0
  int64_t now_ = 0;

  std::vector<int64_t> slot_of_;    // per key: slot or -1
  std::vector<double> freq_;        // per key: F at its last use (lrfu), use count (lfu)
  std::vector<int64_t> last_use_;   // per key: step of the last use (-1: never)
  std::vector<int64_t> pin_step_;   // per key: pinned while == now_
  std::vector<int64_t> key_of_slot_;  // per slot: key or -1
  std::vector<int64_t> free_slots_;
  std::vector<int32_t> budget_;     // per layer: uploads left in this step
  std::set<std::pair<double, int64_t>> resident_;  // (order, key) of every resident entry
};

}  // namespace petrel::offload

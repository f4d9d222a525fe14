#include "offload/expert_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace petrel::offload {

const char* eviction_name(Eviction e) {
  switch (e) {
    case Eviction::lru: return "lru";
    case Eviction::lfu: return "lfu";
    case Eviction::lrfu: return "lrfu";
  }
  return "?";
}

ExpertCache::ExpertCache(int32_t n_layers, int32_t n_expert, int64_t n_slots, const CachePolicy& policy)
    : n_layers_(std::max(0, n_layers)),
      n_expert_(std::max(0, n_expert)),
      n_slots_(std::max<int64_t>(0, n_slots)),
      policy_(policy) {
  const size_t n_keys = static_cast<size_t>(n_layers_) * static_cast<size_t>(n_expert_);
  // More slots than experts would never be used: keep only as many as there are experts.
  n_slots_ = std::min<int64_t>(n_slots_, static_cast<int64_t>(n_keys));
  policy_.decay = std::clamp(policy_.decay, 1e-6, 1.0);
  log_decay_ = std::log(policy_.decay);
  slot_of_.assign(n_keys, -1);
  freq_.assign(n_keys, 0.0);
  last_use_.assign(n_keys, -1);
  pin_step_.assign(n_keys, -1);
  key_of_slot_.assign(static_cast<size_t>(n_slots_), -1);
  free_slots_.reserve(static_cast<size_t>(n_slots_));
  for (int64_t s = n_slots_ - 1; s >= 0; --s) free_slots_.push_back(s);  // slot 0 is handed out first
  budget_.assign(static_cast<size_t>(n_layers_), std::max(0, policy_.max_uploads_per_layer));
}

void ExpertCache::begin_step() {
  ++now_;
  std::fill(budget_.begin(), budget_.end(), std::max(0, policy_.max_uploads_per_layer));
}

double ExpertCache::order_of(int64_t k) const {
  const auto i = static_cast<size_t>(k);
  switch (policy_.eviction) {
    case Eviction::lru:
      return static_cast<double>(last_use_[i]);
    case Eviction::lfu:
      // Uses first; among equal counts the older last use is lower (steps < 2^40 keep it exact).
      return freq_[i] * 0x1p40 + static_cast<double>(last_use_[i] + 1);
    case Eviction::lrfu:
      // ln(F · decay^(now - last)) without the now term, which every entry shares.
      if (freq_[i] <= 0.0) return -std::numeric_limits<double>::infinity();
      return std::log(freq_[i]) - static_cast<double>(last_use_[i]) * log_decay_;
  }
  return 0.0;
}

// Adds `add` uses at the current step. For lrfu the old frequency first decays to now.
void ExpertCache::touch(int64_t k, double add) {
  const auto i = static_cast<size_t>(k);
  const bool resident = slot_of_[i] >= 0;
  if (resident) resident_.erase({order_of(k), k});
  if (policy_.eviction == Eviction::lrfu && last_use_[i] >= 0) {
    freq_[i] *= std::exp(static_cast<double>(now_ - last_use_[i]) * log_decay_);
  }
  freq_[i] += add;
  last_use_[i] = now_;
  if (resident) resident_.insert({order_of(k), k});
}

void ExpertCache::record_use(int32_t layer, const int32_t* experts, int32_t n) {
  if (layer < 0 || layer >= n_layers_) return;
  for (int32_t j = 0; j < n; ++j) {
    if (experts[j] < 0 || experts[j] >= n_expert_) continue;
    const int64_t k = key(layer, experts[j]);
    touch(k, 1.0);
    if (slot_of_[static_cast<size_t>(k)] >= 0) pin_step_[static_cast<size_t>(k)] = now_;
  }
}

int64_t ExpertCache::evict(double than, bool force, Admission* a) {
  for (auto it = resident_.begin(); it != resident_.end(); ++it) {
    if (!force && !(it->first < than)) return -1;  // the set is ordered: nothing later is lower
    const int64_t k = it->second;
    if (pin_step_[static_cast<size_t>(k)] == now_) continue;
    const int64_t slot = slot_of_[static_cast<size_t>(k)];
    a->evicted_layer = static_cast<int32_t>(k / n_expert_);
    a->evicted_expert = static_cast<int32_t>(k % n_expert_);
    slot_of_[static_cast<size_t>(k)] = -1;
    key_of_slot_[static_cast<size_t>(slot)] = -1;
    resident_.erase(it);
    return slot;
  }
  return -1;
}

void ExpertCache::insert(int64_t k, int64_t slot) {
  slot_of_[static_cast<size_t>(k)] = slot;
  key_of_slot_[static_cast<size_t>(slot)] = k;
  resident_.insert({order_of(k), k});
}

int32_t ExpertCache::admit(int32_t layer, const int32_t* wanted, int32_t n, bool prefetch, std::vector<Admission>* out) {
  if (layer < 0 || layer >= n_layers_ || n_slots_ == 0) return 0;
  int32_t& budget = budget_[static_cast<size_t>(layer)];
  // The wanted experts that are resident already are pinned first (and, for a prefetch, count as
  // used now, like the ones it uploads): otherwise making room for wanted[j] could evict a
  // resident wanted[i > j], which the layer is about to use and this call would upload again.
  for (int32_t j = 0; j < n && budget > 0; ++j) {
    if (wanted[j] < 0 || wanted[j] >= n_expert_) continue;
    const int64_t k = key(layer, wanted[j]);
    if (slot_of_[static_cast<size_t>(k)] < 0) continue;
    if (prefetch && last_use_[static_cast<size_t>(k)] < now_) touch(k, 0.0);
    pin_step_[static_cast<size_t>(k)] = now_;
  }
  int32_t admitted = 0;
  for (int32_t j = 0; j < n && budget > 0; ++j) {
    if (wanted[j] < 0 || wanted[j] >= n_expert_) continue;
    const int64_t k = key(layer, wanted[j]);
    if (slot_of_[static_cast<size_t>(k)] >= 0) continue;
    Admission a;
    a.layer = layer;
    a.expert = wanted[j];
    // A prefetch counts as a use now without adding to the frequency (the real use will, if the
    // prediction was right), so it ranks with the recently used entries.
    if (prefetch && last_use_[static_cast<size_t>(k)] < now_) touch(k, 0.0);
    int64_t slot = -1;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = evict(order_of(k), prefetch, &a);
      if (slot < 0) continue;
    }
    insert(k, slot);
    pin_step_[static_cast<size_t>(k)] = now_;
    a.slot = slot;
    out->push_back(a);
    --budget;
    ++admitted;
  }
  return admitted;
}

int32_t ExpertCache::place(int32_t layer, const int32_t* experts, int32_t n, std::vector<Admission>* out) {
  if (layer < 0 || layer >= n_layers_) return 0;
  int32_t placed = 0;
  for (int32_t j = 0; j < n && !free_slots_.empty(); ++j) {
    if (experts[j] < 0 || experts[j] >= n_expert_) continue;
    const int64_t k = key(layer, experts[j]);
    if (slot_of_[static_cast<size_t>(k)] >= 0) continue;
    const int64_t slot = free_slots_.back();
    free_slots_.pop_back();
    insert(k, slot);
    Admission a;
    a.layer = layer;
    a.expert = experts[j];
    a.slot = slot;
    out->push_back(a);
    ++placed;
  }
  return placed;
}

}  // namespace petrel::offload

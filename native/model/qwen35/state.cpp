// Allocation of the per-sequence state (see state.h). Allocation failures are caught here and
// become out_of_memory, so a too-long context never takes the process down.
#include "model/qwen35/state.h"

#include <algorithm>
#include <new>

namespace petrel::qwen35 {

int64_t conv_state_floats(const Hparams& hp) {
  return static_cast<int64_t>(hp.ssm_d_conv - 1) * hp.ssm_conv_dim();
}

int64_t ssm_state_floats(const Hparams& hp) {
  return static_cast<int64_t>(hp.ssm_n_v_heads) * hp.ssm_d_state * hp.ssm_head_v_dim();
}

int64_t kv_floats_per_token(const Hparams& hp, int32_t il) {
  return static_cast<int64_t>(hp.n_head_kv[static_cast<size_t>(il)]) * hp.head_dim;
}

int64_t kv_bytes_per_token(const Hparams& hp, int32_t il, GgmlType kv_type) {
  return kv_floats_per_token(hp, il) * (kv_type == GgmlType::F16 ? 2 : 4);
}

int64_t kv_offset(const Hparams& hp, GgmlType kv_type, int64_t capacity, int64_t h, int64_t pos) {
  return (h * capacity + pos) * hp.head_dim * (kv_type == GgmlType::F16 ? 2 : 4);
}

Status make_state(const Hparams& hp, GgmlType kv_type, SequenceState* out) {
  if (kv_type != GgmlType::F16 && kv_type != GgmlType::F32) {
    return Status(StatusCode::invalid_argument, "the KV cache holds f16 or f32");
  }
  try {
    SequenceState st;
    st.kv_type = kv_type;
    st.layers.resize(static_cast<size_t>(hp.n_layer));
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (!hp.recurrent[static_cast<size_t>(il)]) continue;
      LayerState& ls = st.layers[static_cast<size_t>(il)];
      ls.conv.assign(static_cast<size_t>(conv_state_floats(hp)), 0.0f);
      ls.ssm.assign(static_cast<size_t>(ssm_state_floats(hp)), 0.0f);
    }
    *out = std::move(st);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "not enough memory for a session's recurrent state");
  }
  return Status();
}

Status reserve_kv(const Hparams& hp, SequenceState* st, int64_t n_pos, int64_t max_pos) {
  if (n_pos <= st->kv_capacity) return Status();
  // Double (from 32 positions) so decode appends amortise; never past the context limit.
  const int64_t capacity = std::min(std::max({n_pos, st->kv_capacity * 2, int64_t{32}}), std::max(max_pos, n_pos));
  try {
    std::vector<std::vector<uint8_t>> grown_k(static_cast<size_t>(hp.n_layer));
    std::vector<std::vector<uint8_t>> grown_v(static_cast<size_t>(hp.n_layer));
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (hp.recurrent[static_cast<size_t>(il)]) continue;
      const size_t bytes = static_cast<size_t>(capacity * kv_bytes_per_token(hp, il, st->kv_type));
      grown_k[static_cast<size_t>(il)].resize(bytes);
      grown_v[static_cast<size_t>(il)].resize(bytes);
    }
    // Each head's run of valid positions moves to its place in the larger buffer.
    const int64_t head_bytes = st->n_pos * kv_offset(hp, st->kv_type, 0, 0, 1);
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (hp.recurrent[static_cast<size_t>(il)]) continue;
      LayerState& ls = st->layers[static_cast<size_t>(il)];
      if (st->n_pos > 0) {
        for (int64_t h = 0; h < hp.n_head_kv[static_cast<size_t>(il)]; ++h) {
          const int64_t from = kv_offset(hp, st->kv_type, st->kv_capacity, h, 0);
          const int64_t to = kv_offset(hp, st->kv_type, capacity, h, 0);
          std::copy_n(ls.k.begin() + from, head_bytes, grown_k[static_cast<size_t>(il)].begin() + to);
          std::copy_n(ls.v.begin() + from, head_bytes, grown_v[static_cast<size_t>(il)].begin() + to);
        }
      }
      ls.k.swap(grown_k[static_cast<size_t>(il)]);
      ls.v.swap(grown_v[static_cast<size_t>(il)]);
    }
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "not enough memory to grow the KV cache to " + std::to_string(capacity) +
                                                 " positions");
  }
  st->kv_capacity = capacity;
  return Status();
}

}  // namespace petrel::qwen35

// kv_store and attention shaders: the fp16 rounding bit for bit against quant/fp16.h, an F32
// cache's stores bit for bit against the CPU backend's kv_store, and attention against the CPU
// backend's over the same F16 or F32 cache, for decode (split context, merged) replayed step
// after step with the position in device memory, and for prefill batches.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/ops_attention.h"
#include "quant/fp16.h"
#include "tests/vulkan/sequence_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// The key and value caches on the device (4 bytes into their buffers, below the binding
// alignment) and their bytes on the host.
struct Cache {
  GgmlType type;
  std::unique_ptr<Buffer> k, v;
  std::vector<uint8_t> k_host, v_host;
};

// Random values of `type` (F16 or F32), as bytes.
std::vector<uint8_t> random_values(Rng& rng, GgmlType type, size_t n) {
  std::vector<uint8_t> bytes(n * tensor_element_bytes(type));
  for (size_t i = 0; i < n; ++i) {
    const float v = rng.normal();
    if (type == GgmlType::F16) {
      const uint16_t h = fp32_to_fp16(v);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    } else {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    }
  }
  return bytes;
}

// Caches of `capacity` positions with random values everywhere (the positions past the context
// must not be read, so they hold values that would show).
Cache random_cache(Device& dev, Rng& rng, GgmlType type, int64_t n_head_kv, int64_t capacity, int64_t head_dim) {
  const size_t n = static_cast<size_t>(n_head_kv * capacity * head_dim);
  Cache c{type, nullptr, nullptr, random_values(rng, type, n), random_values(rng, type, n)};
  c.k = buffer_of(*dev.ctx, c.k_host, 4);
  c.v = buffer_of(*dev.ctx, c.v_host, 4);
  return c;
}

// The caches' host bytes as the device holds them now.
void read_cache(Device& dev, Cache* c) {
  c->k_host = read_back<uint8_t>(*dev.ctx, *c->k, c->k_host.size(), 4);
  c->v_host = read_back<uint8_t>(*dev.ctx, *c->v, c->v_host.size(), 4);
}

PETREL_TEST(vulkan_kv_store_rounds_like_fp16_h) {
  NEED_DEVICE();
  Rng rng(31);
  const int64_t n_tokens = 2, n_head_kv = 3, hd = 8, capacity = 20;
  std::vector<float> x = random_floats(rng, static_cast<size_t>(n_tokens * n_head_kv * hd));
  // Ties to even, the largest finite and overflow, subnormals and their rounding, signed zero,
  // a float subnormal.
  const float edge[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 65520.0f, -70000.0f, 0x1p-24f, 0x1.8p-25f,
                        0x1p-25f, -0.0f, 1e-40f, 0x1.ff8p-15f, 3.0e-5f};
  for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); ++i) x[i * 3] = edge[i];
  std::vector<uint16_t> kc(static_cast<size_t>(n_head_kv * capacity * hd));
  for (auto& h : kc) h = fp32_to_fp16(rng.normal());
  auto cb = buffer_of(*dev.ctx, kc, 4);
  auto xb = buffer_of(*dev.ctx, x);
  const std::vector<int32_t> positions{17, 1};  // per token, in any order
  auto pb = buffer_of(*dev.ctx, positions);
  PETREL_CHECK(cb && xb && pb);
  if (!(cb && xb && pb)) return;
  // Also with one head per binding: the cache bound piece by piece.
  const uint64_t head_bytes = static_cast<uint64_t>(capacity * hd * 2);
  for (uint64_t max_binding : {dev.ops->max_binding_bytes(), std::max<uint64_t>(head_bytes, x.size() * 4) + 256}) {
    const uint64_t saved = dev.ops->max_binding_bytes();
    dev.ops->set_max_binding_bytes(max_binding);
    auto rec = record(dev, [&](Recording& r) {
      return kv_store(*dev.ops, r, span_of(xb.get()), n_tokens, n_head_kv, hd, span_of(cb.get(), 4), capacity,
                      span_of(pb.get()));
    });
    dev.ops->set_max_binding_bytes(saved);
    if (!run(rec)) return;
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < n_head_kv; ++h) {
        for (int64_t d = 0; d < hd; ++d) {
          kc[static_cast<size_t>((h * capacity + positions[static_cast<size_t>(t)]) * hd + d)] =
              fp32_to_fp16(x[static_cast<size_t>((t * n_head_kv + h) * hd + d)]);
        }
      }
    }
    PETREL_CHECK(read_back<uint16_t>(*dev.ctx, *cb, kc.size(), 4) == kc);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// An F32 cache takes each float as it is: the device's stores against the CPU backend's
// kv_store on the same cache, bit for bit, with the cache bound whole and a head per binding.
PETREL_TEST(vulkan_kv_store_f32_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(34);
  const int64_t n_tokens = 3, n_head_kv = 2, hd = 16, capacity = 24;
  std::vector<float> x = random_floats(rng, static_cast<size_t>(n_tokens * n_head_kv * hd));
  x[1] = 1e-40f;  // a float subnormal: bits, not arithmetic, so no flush
  x[2] = -0.0f;
  std::vector<int32_t> positions{23, 0, 9};
  auto pb = buffer_of(*dev.ctx, positions);
  auto xb = buffer_of(*dev.ctx, x);
  PETREL_CHECK(pb && xb);
  if (!(pb && xb)) return;
  const uint64_t head_bytes = static_cast<uint64_t>(capacity * hd * 4);
  for (uint64_t max_binding : {dev.ops->max_binding_bytes(), std::max<uint64_t>(head_bytes, x.size() * 4) + 256}) {
    Cache c = random_cache(dev, rng, GgmlType::F32, n_head_kv, capacity, hd);
    PETREL_CHECK(c.k != nullptr);
    if (!c.k) return;
    std::vector<uint8_t> want = c.k_host;
    cpu->kv_store(cpu->wrap_host(x.data(), Tensor::contiguous(GgmlType::F32, hd, n_head_kv, n_tokens)),
                  cpu->wrap_host(want.data(), Tensor::contiguous(GgmlType::F32, hd, capacity, n_head_kv)),
                  cpu->wrap_host(positions.data(), Tensor::contiguous(GgmlType::I32, n_tokens)));
    const uint64_t saved = dev.ops->max_binding_bytes();
    dev.ops->set_max_binding_bytes(max_binding);
    auto rec = record(dev, [&](Recording& r) {
      return kv_store(*dev.ops, r, span_of(xb.get()), n_tokens, n_head_kv, hd, span_of(c.k.get(), 4), capacity,
                      span_of(pb.get()), GgmlType::F32);
    });
    dev.ops->set_max_binding_bytes(saved);
    if (!run(rec)) return;
    read_cache(dev, &c);
    PETREL_CHECK(c.k_host == want);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// Attention bounds: about ten times the largest difference measured on lavapipe, rounded up.
// Decode: kv_store then attention in one recording, run for `steps` consecutive positions from
// pos0 with only the position (and the new q, k, v) rewritten in device memory between runs.
void check_decode(Device& dev, GgmlType type, const AttentionShape& s, int64_t capacity, int64_t pos0, int steps,
                  int64_t part_len) {
  auto cpu = make_cpu_backend(1);
  Rng rng(static_cast<uint64_t>(32 + s.n_head + capacity));
  Cache c = random_cache(dev, rng, type, s.n_head_kv, capacity, s.head_dim);
  const size_t q_n = static_cast<size_t>(s.n_head * s.head_dim), kv_n = static_cast<size_t>(s.n_head_kv * s.head_dim);
  auto qb = buffer_of(*dev.ctx, std::vector<float>(q_n), 8);
  auto kb = buffer_of(*dev.ctx, std::vector<float>(kv_n));
  auto vb = buffer_of(*dev.ctx, std::vector<float>(kv_n));
  auto pb = buffer_of(*dev.ctx, std::vector<int32_t>{0}, 4);
  auto ob = buffer_of(*dev.ctx, std::vector<float>(q_n));
  const uint64_t scratch_bytes = attention_scratch_bytes(s, capacity, 1, part_len);
  PETREL_CHECK(scratch_bytes > 0);
  auto sb = buffer_of(*dev.ctx, std::vector<uint8_t>(scratch_bytes));
  PETREL_CHECK(c.k && c.v && qb && kb && vb && pb && ob && sb);
  if (!(c.k && c.v && qb && kb && vb && pb && ob && sb)) return;
  auto rec = record(dev, [&](Recording& r) -> Status {
    PETREL_RETURN_IF_ERROR(kv_store(*dev.ops, r, span_of(kb.get()), 1, s.n_head_kv, s.head_dim, span_of(c.k.get(), 4),
                                    capacity, span_of(pb.get(), 4), type));
    PETREL_RETURN_IF_ERROR(kv_store(*dev.ops, r, span_of(vb.get()), 1, s.n_head_kv, s.head_dim, span_of(c.v.get(), 4),
                                    capacity, span_of(pb.get(), 4), type));
    return attention(*dev.ops, r, s, span_of(qb.get(), 8), span_of(c.k.get(), 4), span_of(c.v.get(), 4), capacity,
                     span_of(pb.get(), 4), 1, span_of(ob.get()), span_of(sb.get()), type, part_len);
  });
  for (int step = 0; step < steps; ++step) {
    const int64_t pos = pos0 + step;
    const auto q = random_floats(rng, q_n);
    write(*dev.ctx, *qb, q, 8);
    write(*dev.ctx, *kb, random_floats(rng, kv_n));
    write(*dev.ctx, *vb, random_floats(rng, kv_n));
    write(*dev.ctx, *pb, std::vector<int32_t>{static_cast<int32_t>(pos)}, 4);
    if (!run(rec)) return;
    read_cache(dev, &c);
    std::vector<float> want(q_n);
    cpu->attention(s, q.data(), c.k_host.data(), c.v_host.data(), type, capacity, pos, 1, want.data());
    PETREL_CHECK(close(read_back<float>(*dev.ctx, *ob, q_n), as_double(want), 1e-5));
  }
}

PETREL_TEST(vulkan_attention_decode_matches_cpu) {
  NEED_DEVICE();
  for (GgmlType type : {GgmlType::F16, GgmlType::F32}) {
    // Qwen3.5's head shape (256 dims, 8 query heads per KV head), parts of 32 positions: the
    // steps cross a part boundary (63 -> 64) and never reach the last part.
    check_decode(dev, type, AttentionShape{16, 2, 256, 0.0625f}, 130, 62, 3, 32);
    // Few dims, 3 query heads per KV head, a context shorter than one part at first.
    check_decode(dev, type, AttentionShape{6, 2, 32, 1.0f / std::sqrt(32.0f)}, 40, 0, 2, 16);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_attention_prefill_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(33);
  struct Case {
    AttentionShape s;
    int64_t capacity, pos0, n_tokens;
  };
  // Token tiles of 5 x 3 heads (the last partial), and of 2 x 8 heads on Qwen3.5's head shape.
  for (GgmlType type : {GgmlType::F16, GgmlType::F32}) {
    for (const Case& cs : {Case{{6, 2, 32, 0.17f}, 200, 9, 23}, Case{{16, 2, 256, 0.0625f}, 200, 3, 5}}) {
      const AttentionShape& s = cs.s;
      Cache c = random_cache(dev, rng, type, s.n_head_kv, cs.capacity, s.head_dim);
      const auto q = random_floats(rng, static_cast<size_t>(cs.n_tokens * s.n_head * s.head_dim));
      auto qb = buffer_of(*dev.ctx, q);
      std::vector<int32_t> positions(static_cast<size_t>(cs.n_tokens));
      for (int64_t t = 0; t < cs.n_tokens; ++t) positions[static_cast<size_t>(t)] = static_cast<int32_t>(cs.pos0 + t);
      auto pb = buffer_of(*dev.ctx, positions);
      auto ob = buffer_of(*dev.ctx, q);
      PETREL_CHECK(c.k && c.v && qb && pb && ob);
      if (!(c.k && c.v && qb && pb && ob)) return;
      PETREL_CHECK(attention_scratch_bytes(s, cs.capacity, cs.n_tokens) == 0);
      std::vector<float> want(q.size());
      cpu->attention(s, q.data(), c.k_host.data(), c.v_host.data(), type, cs.capacity, cs.pos0, cs.n_tokens,
                     want.data());
      // Also with one KV head per binding (the queries and output still in one).
      const uint64_t head_bytes = static_cast<uint64_t>(cs.capacity * s.head_dim) * tensor_element_bytes(type);
      const uint64_t one_head = std::max<uint64_t>(head_bytes, q.size() * 4) + 256;
      for (uint64_t max_binding : {dev.ops->max_binding_bytes(), one_head}) {
        const uint64_t saved = dev.ops->max_binding_bytes();
        dev.ops->set_max_binding_bytes(max_binding);
        auto rec = record(dev, [&](Recording& r) {
          return attention(*dev.ops, r, s, span_of(qb.get()), span_of(c.k.get(), 4), span_of(c.v.get(), 4),
                           cs.capacity, span_of(pb.get()), cs.n_tokens, span_of(ob.get()), DeviceSpan{}, type);
        });
        dev.ops->set_max_binding_bytes(saved);
        if (!run(rec)) return;
        PETREL_CHECK(close(read_back<float>(*dev.ctx, *ob, q.size()), as_double(want), 1e-5));
      }
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk

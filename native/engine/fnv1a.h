// 64-bit FNV-1a: the model's shape fingerprint and weights digest (model.cpp) and the snapshot
// checksum (snapshot.cpp). Snapshot files store all three, so the hash must never change.
#pragma once

#include <cstdint>
#include <string>

namespace petrel {

class Fnv1a {
 public:
  void bytes(const uint8_t* p, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) mix(p[i]);
  }
  // v's eight bytes, least significant first.
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i) mix(static_cast<uint8_t>((v >> (8 * i)) & 0xff));
  }
  // s's bytes, then its length.
  void add(const std::string& s) {
    for (unsigned char c : s) mix(c);
    add(static_cast<uint64_t>(s.size()));
  }
  uint64_t value() const { return h_; }

 private:
  void mix(uint8_t b) {
    h_ ^= b;
    h_ *= 0x100000001b3ull;
  }
  uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace petrel

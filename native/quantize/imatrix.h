// Importance matrices as llama-imatrix writes them, read as llama-quantize reads them:
//   GGUF format: per tensor "<name>.in_sum2" {n_per_row, n_mat} and "<name>.counts" {1, n_mat}
//     (F32); the importance is in_sum2 / count per matrix (1 where a matrix never saw input),
//     plus imatrix.datasets / imatrix.chunk_count metadata.
//   legacy .dat: i32 n_entries, then per entry i32 name length, name, i32 ncall, i32 nval,
//     nval f32 (sums; divided by ncall when ncall > 0), optionally followed by i32 last_call,
//     i32 dataset length, dataset name.
// Both are hostile input: every count and length is checked against the file, values must be finite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel {

struct Imatrix {
  std::map<std::string, std::vector<float>> entries;  // tensor name -> n_per_row * n_mat values
  std::vector<std::string> datasets;
  int chunk_count = -1;  // -1 when the file does not say
};

Status load_imatrix(const std::string& path, Imatrix* out);
// The same parsers over bytes in memory (tests); `name` prefixes errors.
Status parse_imatrix(const uint8_t* data, size_t size, const std::string& name, Imatrix* out);

}  // namespace petrel

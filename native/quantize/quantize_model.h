// quantize_gguf: one GGUF (or split GGUF) in, one quantized GGUF out, the way llama-quantize
// does it (type_policy.h picks each tensor's type, quant/quantize_rows.h makes the same bytes as
// ggml_quantize_chunk, metadata is copied with general.file_type / quantization_version set).
// It streams: each tensor is read from the memory-mapped input a batch of rows at a time,
// dequantized to float32 (F16/BF16/Q8_0/... inputs), quantized on all threads and appended to the
// output, so memory stays at a few MiB per thread whatever the model size. The output goes to a
// temporary file renamed into place on success; free disk space is checked before starting.
// The input is a GGUF, or a Hugging Face checkpoint planned by src/convert/ (ConvertPlan): its
// tensors are then read from the safetensors files and transformed on the fly, and the plan's types
// play the part of the converted GGUF's, so the same type rules, imatrix and output code apply.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "petrel/status.h"
#include "quant/ggml_type.h"
#include "quantize/safetensors_source.h"

namespace petrel {

struct QuantizeProgress {
  uint64_t done_bytes = 0;   // input tensor bytes processed
  uint64_t total_bytes = 0;
  uint32_t tensor_index = 0;  // tensors finished
  uint32_t n_tensors = 0;
};

struct QuantizeOptions {
  std::string input;     // a GGUF; ignored when `convert` is set
  const ConvertPlan* convert = nullptr;  // a Hugging Face checkpoint instead (safetensors_source.h)
  std::string output;
  std::string type;     // "q4_k_m", ... (quantize/ftype.h)
  std::string imatrix;  // importance matrix file, or empty
  unsigned threads = 0;  // 0: all hardware threads
  bool force = false;    // replace an existing output file
  bool dry_run = false;  // plan only: choose the types and sizes, write nothing
  uint64_t assume_free_bytes = 0;  // > 0: the output filesystem's free space (tests of the disk check)
  std::function<void(const QuantizeProgress&)> progress;  // called on the calling thread
  const std::atomic<bool>* cancel = nullptr;               // checked between batches
};

struct QuantizedTensor {
  std::string name;
  std::vector<int64_t> shape;
  GgmlType from = GgmlType::F32;
  GgmlType to = GgmlType::F32;
  bool fallback = false;      // the planned type did not fit the row length
  bool with_imatrix = false;  // quantized with importance data
  uint64_t n_elements = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

struct QuantizeSummary {
  uint32_t ftype = 0;              // general.file_type written
  std::vector<QuantizedTensor> tensors;  // in output order
  uint64_t input_file_bytes = 0;   // all input parts
  uint64_t output_file_bytes = 0;
  uint64_t n_elements = 0;
  uint64_t tensor_bytes_in = 0;
  uint64_t tensor_bytes_out = 0;
  uint32_t imatrix_entries = 0;  // entries in the imatrix file
  unsigned threads = 0;
};

Status quantize_gguf(const QuantizeOptions& options, QuantizeSummary* summary);

}  // namespace petrel

// Writes a synthetic model (recipe.h's SynthPlan) as a GGUF file fast enough for tens of GB:
// quantized tensors as random blocks (random_blocks.h), float tensors (F32, F16, BF16) from their
// recipe's normal values (random_fill.h). Every thread fills whole pieces of tensors of a few
// MiB and writes each at its place in the file with pwrite, so the file is written in large
// sequential runs on all cores at once, with nothing in flight but one piece per thread.
//
// The layout is GgufWriter's (header, metadata, tensor infos, each tensor's data aligned to
// general.alignment), written to "<path>.tmp-<pid>" and renamed over <path>. Unlike GgufWriter it
// does not fsync: the files it is for are scratch models made and read again on one machine,
// and waiting for the disk would only lengthen the write.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "petrel/status.h"
#include "synth/recipe.h"

namespace petrel {

struct BlockWriteOptions {
  unsigned threads = 0;  // 0: all hardware threads
  // Called about five times a second on the calling thread: bytes written so far, file size.
  std::function<void(uint64_t written, uint64_t total)> progress;
};

// The file `plan` makes: invalid_argument for a bad shape, name or type, unsupported for a
// quantized type random_blocks.h cannot draw or a quantized tensor whose recipe values are not
// centred on 0; io_error / disk_full from the file system.
Status write_random_blocks(const SynthPlan& plan, const std::string& out_path, const BlockWriteOptions& options);

}  // namespace petrel

// Status: how every native function reports failure.
// Nothing below the addon throws or exits; a function returns a Status (code + one-line message)
// and the addon turns it into a JavaScript Error with a stable `code` property.
#pragma once

#include <string>
#include <utility>

namespace petrel {

enum class StatusCode {
  ok = 0,
  invalid_argument,  // caller passed something unusable
  io_error,          // open/read/write/rename failed
  corrupt_file,      // a file's contents violate its format (bounds, counts, magic, ...)
  unsupported,       // well-formed but not something petrel handles (unknown type, version)
  out_of_memory,
  disk_full,
};

// Stable string codes used on the JavaScript side (err.code).
const char* status_code_name(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  bool ok() const { return code_ == StatusCode::ok; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

// Propagate a non-ok Status to the caller.
#define PETREL_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::petrel::Status _petrel_st = (expr);   \
    if (!_petrel_st.ok()) return _petrel_st; \
  } while (0)

}  // namespace petrel
